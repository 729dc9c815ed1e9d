//! AWS settings found as the AWS CLI finds them: credentials, region and endpoint
//! from the AWS SDK's default chain (`aws-config`), which object_store lacks.
//!
//! The chain reads the environment, the profile (`AWS_PROFILE` or `--profile`) in
//! `~/.aws/config` and `~/.aws/credentials` with SSO, assume-role through
//! `source_profile`, `credential_process` and web identity, then ECS task roles and
//! EC2 instance metadata. object_store signs requests with what it finds, through
//! [`SdkCredentials`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use object_store::CredentialProvider;
use object_store::aws::AwsCredential;

use crate::StoreError;

/// Credentials are fetched again this long before they expire, so that a request
/// signed with them does not reach S3 expired.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// What the chain found for one bucket.
pub(crate) struct AwsSettings {
    /// Signs requests, its first credentials already fetched; `None` for unsigned
    /// requests.
    pub credentials: Option<Arc<SdkCredentials>>,
    /// The region from `AWS_REGION` or the profile, if any.
    pub region: Option<String>,
    /// `AWS_ENDPOINT_URL` or the profile's `endpoint_url`, if any.
    pub endpoint: Option<String>,
}

/// Resolve the chain for the bucket at `url`, with `profile` in place of
/// `AWS_PROFILE` when given; credentials only when requests are `signed`. Fails
/// naming the sources tried, and the reason of a configured source that failed.
pub(crate) async fn resolve(
    profile: Option<&str>,
    signed: bool,
    url: &str,
) -> Result<AwsSettings, StoreError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    let config = loader.load().await;
    let region = config.region().map(|region| region.to_string());
    let endpoint = config.endpoint_url().map(str::to_string);
    if !signed {
        return Ok(AwsSettings {
            credentials: None,
            region,
            endpoint,
        });
    }
    let no_credentials = |error| StoreError::NoCredentials {
        url: url.to_string(),
        tried: sources_tried(profile),
        error,
    };
    let provider = config
        .credentials_provider()
        .ok_or_else(|| no_credentials(None))?;
    let credentials = Arc::new(SdkCredentials {
        provider,
        cached: tokio::sync::Mutex::new(None),
    });
    match credentials.fetch().await {
        Ok(_) => {}
        Err(CredentialsError::CredentialsNotLoaded(_)) => return Err(no_credentials(None)),
        Err(error) => return Err(no_credentials(Some(error))),
    }
    Ok(AwsSettings {
        credentials: Some(credentials),
        region,
        endpoint,
    })
}

/// The sources the default chain looks at, in its order, for the one-line error.
fn sources_tried(profile: Option<&str>) -> String {
    let profile = profile
        .map(str::to_string)
        .or_else(|| std::env::var("AWS_PROFILE").ok())
        .unwrap_or_else(|| "default".to_string());
    let file = |variable: &str, default: &str| {
        std::env::var(variable).unwrap_or_else(|_| default.to_string())
    };
    let metadata = if std::env::var("AWS_EC2_METADATA_DISABLED")
        .is_ok_and(|value| value.eq_ignore_ascii_case("true"))
    {
        "EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)"
    } else {
        "EC2 instance metadata"
    };
    format!(
        "environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, profile \
         {profile:?} in {} and {}, web identity (AWS_WEB_IDENTITY_TOKEN_FILE), ECS \
         container credentials, {metadata}",
        file("AWS_CONFIG_FILE", "~/.aws/config"),
        file("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
    )
}

/// The SDK's credential chain as object_store's [`CredentialProvider`], with the
/// last credentials kept until shortly before they expire (the SDK's own clients
/// cache in the client, which object_store does not use).
#[derive(Debug)]
pub(crate) struct SdkCredentials {
    provider: SharedCredentialsProvider,
    cached: tokio::sync::Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

impl SdkCredentials {
    async fn fetch(&self) -> Result<Arc<AwsCredential>, CredentialsError> {
        // Held across the fetch, so that concurrent requests wait for one refresh.
        let mut cached = self.cached.lock().await;
        if let Some((credential, expiry)) = cached.as_ref() {
            let fresh =
                expiry.is_none_or(|expiry| SystemTime::now() + REFRESH_BEFORE_EXPIRY < expiry);
            if fresh {
                return Ok(Arc::clone(credential));
            }
        }
        let credentials = self.provider.provide_credentials().await?;
        let credential = Arc::new(AwsCredential {
            key_id: credentials.access_key_id().to_string(),
            secret_key: credentials.secret_access_key().to_string(),
            token: credentials.session_token().map(str::to_string),
        });
        *cached = Some((Arc::clone(&credential), credentials.expiry()));
        Ok(credential)
    }
}

#[async_trait::async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        self.fetch()
            .await
            .map_err(|error| object_store::Error::Generic {
                store: "S3",
                source: Box::new(error),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use aws_credential_types::Credentials;

    #[test]
    fn credentials_are_fetched_again_only_near_their_expiry() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let expiring = |seconds: u64| SystemTime::now() + Duration::from_secs(seconds);
        for (expiry, refetched) in [
            (None, false),
            (Some(expiring(3600)), false),
            (Some(expiring(60)), true),
        ] {
            let first = Credentials::new("FIRST", "secret", None, expiry, "test");
            let sdk = SdkCredentials {
                provider: SharedCredentialsProvider::new(first),
                cached: tokio::sync::Mutex::new(None),
            };
            assert_eq!(runtime.block_on(sdk.fetch()).unwrap().key_id, "FIRST");
            // The provider now hands out other keys; the cache decides which are used.
            let second = SdkCredentials {
                provider: SharedCredentialsProvider::new(Credentials::new(
                    "SECOND", "secret", None, None, "test",
                )),
                cached: sdk.cached,
            };
            let used = runtime.block_on(second.fetch()).unwrap();
            let expected = if refetched { "SECOND" } else { "FIRST" };
            assert_eq!(used.key_id, expected, "expiry {expiry:?}");
        }
    }

    #[test]
    fn the_sources_tried_name_the_profile_and_its_files() {
        let tried = sources_tried(Some("audit"));
        assert!(tried.contains("profile \"audit\""), "{tried}");
        assert!(tried.contains("web identity"), "{tried}");
        assert!(tried.contains("EC2 instance metadata"), "{tried}");
    }
}
