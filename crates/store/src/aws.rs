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
    /// The region from `AWS_REGION`, `AWS_DEFAULT_REGION` or the profile, if any.
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
    cached: tokio::sync::Mutex<Option<Cached>>,
}

/// Credentials, when to fetch new ones, and when they stop working.
#[derive(Debug)]
struct Cached {
    credential: Arc<AwsCredential>,
    refresh_at: Option<SystemTime>,
    expiry: Option<SystemTime>,
}

impl SdkCredentials {
    async fn fetch(&self) -> Result<Arc<AwsCredential>, CredentialsError> {
        // Held across the fetch, so that concurrent requests wait for one refresh.
        let mut cached = self.cached.lock().await;
        let now = SystemTime::now();
        if let Some(kept) = cached.as_ref()
            && kept.refresh_at.is_none_or(|at| now < at)
        {
            return Ok(Arc::clone(&kept.credential));
        }
        let credentials = match self.provider.provide_credentials().await {
            Ok(credentials) => credentials,
            Err(error) => {
                // A failed refresh is no reason to drop credentials still valid.
                return match cached.as_ref() {
                    Some(kept) if kept.expiry.is_some_and(|expiry| now < expiry) => {
                        Ok(Arc::clone(&kept.credential))
                    }
                    _ => Err(error),
                };
            }
        };
        let credential = Arc::new(AwsCredential {
            key_id: credentials.access_key_id().to_string(),
            secret_key: credentials.secret_access_key().to_string(),
            token: credentials.session_token().map(str::to_string),
        });
        let expiry = credentials.expiry();
        *cached = Some(Cached {
            credential: Arc::clone(&credential),
            refresh_at: expiry.map(|expiry| refresh_time(now, expiry)),
            expiry,
        });
        Ok(credential)
    }
}

/// When to fetch again credentials fetched at `now` that expire at `expiry`:
/// [`REFRESH_BEFORE_EXPIRY`] ahead, or halfway for credentials that live less
/// than that (so that they are not fetched again for every request).
fn refresh_time(now: SystemTime, expiry: SystemTime) -> SystemTime {
    let lifetime = expiry.duration_since(now).unwrap_or_default();
    expiry - REFRESH_BEFORE_EXPIRY.min(lifetime / 2)
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

    /// Hands out `FIRST` once, expiring at `expiry`, then `SECOND` or failures.
    #[derive(Debug)]
    struct Rotating {
        expiry: Option<SystemTime>,
        calls: std::sync::atomic::AtomicUsize,
        then_fail: bool,
    }

    impl ProvideCredentials for Rotating {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let call = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let result = match (call, self.then_fail) {
                (0, _) => Ok(Credentials::new("FIRST", "s", None, self.expiry, "test")),
                (_, false) => Ok(Credentials::new("SECOND", "s", None, None, "test")),
                (_, true) => Err(CredentialsError::provider_error("STS is down")),
            };
            aws_credential_types::provider::future::ProvideCredentials::ready(result)
        }
    }

    fn used_twice(expiry: Option<SystemTime>, then_fail: bool) -> (String, Result<String, ()>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let sdk = SdkCredentials {
            provider: SharedCredentialsProvider::new(Rotating {
                expiry,
                calls: Default::default(),
                then_fail,
            }),
            cached: tokio::sync::Mutex::new(None),
        };
        let first = runtime.block_on(sdk.fetch()).unwrap().key_id.clone();
        let second = runtime.block_on(sdk.fetch()).map(|c| c.key_id.clone());
        (first, second.map_err(|_| ()))
    }

    #[test]
    fn credentials_are_fetched_again_only_near_their_expiry() {
        let in_secs = |seconds: u64| Some(SystemTime::now() + Duration::from_secs(seconds));
        assert_eq!(used_twice(None, false).1, Ok("FIRST".into()));
        assert_eq!(used_twice(in_secs(3600), false).1, Ok("FIRST".into()));
        assert_eq!(
            used_twice(in_secs(60), false).1,
            Ok("FIRST".into()),
            "halfway"
        );
        assert_eq!(
            used_twice(in_secs(1), false).1,
            Ok("FIRST".into()),
            "halfway"
        );
        let expired = Some(SystemTime::now() - Duration::from_secs(1));
        assert_eq!(used_twice(expired, false).1, Ok("SECOND".into()));
        // Inside the refresh window, a failed refresh keeps the valid credentials;
        // past their expiry it is an error.
        assert_eq!(used_twice(in_secs(200), true).1, Ok("FIRST".into()));
        assert_eq!(used_twice(expired, true).1, Err(()));
    }

    #[test]
    fn refreshes_come_five_minutes_ahead_or_halfway() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let hour = now + Duration::from_secs(3600);
        assert_eq!(refresh_time(now, hour), hour - REFRESH_BEFORE_EXPIRY);
        let minute = now + Duration::from_secs(60);
        assert_eq!(refresh_time(now, minute), now + Duration::from_secs(30));
    }

    #[test]
    fn the_sources_tried_name_the_profile_and_its_files() {
        let tried = sources_tried(Some("audit"));
        assert!(tried.contains("profile \"audit\""), "{tried}");
        assert!(tried.contains("web identity"), "{tried}");
        assert!(tried.contains("EC2 instance metadata"), "{tried}");
    }
}
