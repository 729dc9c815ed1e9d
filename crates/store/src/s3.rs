//! The S3 client: one bucket opened through `object_store`, with retries, and the
//! plain object operations (get, ranged get, put, conditional put, upload, copy,
//! list, delete) that sources and archives on S3 are built from. Callers stay
//! synchronous: requests run on a small runtime private to this module.

use std::ops::Range;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ObjectStore, ObjectStoreExt, PutMode, PutOptions, RetryConfig, WriteMultipart,
};

use crate::{StoreError, aws};

/// Default number of S3 requests in flight at once: enough to hide S3's first-byte
/// latency (tens of ms) behind two decoding threads, well under S3's per-prefix
/// request rates.
pub const DEFAULT_S3_CONCURRENCY: usize = 256;
/// Default retries of a throttled (503 SlowDown) or failed request, with
/// exponential backoff from [`DEFAULT_S3_BACKOFF`] up to 15 s.
pub const DEFAULT_S3_RETRIES: usize = 10;
/// Default first backoff after a throttled or failed request.
pub const DEFAULT_S3_BACKOFF: Duration = Duration::from_millis(100);

/// How to reach S3. Credentials, the region and the endpoint are found as the AWS
/// CLI finds them: the environment, then the profile in `~/.aws/config` and
/// `~/.aws/credentials` (SSO, assume-role, `credential_process`, `endpoint_url`),
/// web identity, ECS task roles and EC2 instance profiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Options {
    /// Endpoint of an S3-compatible store; when `None`, `AWS_ENDPOINT_URL` or the
    /// profile's `endpoint_url`, else AWS.
    pub endpoint: Option<String>,
    /// The AWS profile to use; `AWS_PROFILE` (else `default`) when `None`.
    pub profile: Option<String>,
    /// Send requests unsigned, without credentials (public buckets; the AWS CLI's
    /// `--no-sign-request`).
    pub unsigned: bool,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Retries of a throttled or failed request.
    pub retries: usize,
    /// First backoff after a throttled or failed request.
    pub backoff: Duration,
    /// Files larger than this are uploaded in parts (multipart upload).
    pub multipart_threshold: usize,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            endpoint: None,
            profile: None,
            unsigned: false,
            concurrency: DEFAULT_S3_CONCURRENCY,
            retries: DEFAULT_S3_RETRIES,
            backoff: DEFAULT_S3_BACKOFF,
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
        }
    }
}

/// One bucket, opened: the client and how hard to drive it.
pub struct S3Bucket {
    name: String,
    store: Arc<dyn ObjectStore>,
    concurrency: usize,
    multipart_threshold: usize,
}

impl std::fmt::Debug for S3Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Bucket({})", self.name)
    }
}

impl S3Bucket {
    /// Open `bucket` with `options`. Fails at once, in one line, when no
    /// credentials can be found.
    pub fn open(bucket: &str, options: &S3Options) -> Result<Arc<S3Bucket>, StoreError> {
        let url = format!("s3://{bucket}");
        let settings = runtime().block_on(aws::resolve(
            options.profile.as_deref(),
            !options.unsigned,
            &url,
        ))?;
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: options.backoff,
                    max_backoff: Duration::from_secs(15),
                    base: 2.0,
                },
                max_retries: options.retries,
                retry_timeout: Duration::from_secs(180),
            });
        builder = match settings.credentials {
            Some(credentials) => builder.with_credentials(credentials),
            None => builder.with_skip_signature(true),
        };
        // AWS_REGION, AWS_DEFAULT_REGION, then the profile, as the AWS CLI.
        if let Some(region) = settings.region {
            builder = builder.with_region(region);
        }
        let endpoint = options.endpoint.clone().or(settings.endpoint);
        if let Some(endpoint) = &endpoint {
            builder = builder.with_endpoint(endpoint);
            if endpoint.starts_with("http://") {
                builder = builder.with_allow_http(true);
            }
        }
        let store = builder
            .build()
            .map_err(|error| StoreError::S3 { url, error })?;
        Ok(Arc::new(S3Bucket {
            name: bucket.to_string(),
            store: Arc::new(store),
            concurrency: options.concurrency.max(1),
            multipart_threshold: options.multipart_threshold,
        }))
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `object_store` client, for requests this type does not wrap (listings
    /// with delimiters, GETs that read metadata). Run them with [`block_on`] or
    /// [`in_order`].
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Requests in flight at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// The whole object at `key`; a missing object is an error of kind `NotFound`.
    pub fn get(&self, key: &str) -> std::io::Result<Bytes> {
        runtime().block_on(self.get_bytes(key))
    }

    /// The objects at `keys`, up to the bucket's concurrency at once, in order.
    pub fn get_all(&self, keys: &[String]) -> Vec<std::io::Result<Bytes>> {
        in_order(keys.iter().map(|key| self.get_bytes(key)), self.concurrency)
    }

    async fn get_bytes(&self, key: &str) -> std::io::Result<Bytes> {
        let result = self
            .store
            .get(&ObjectPath::from(key))
            .await
            .map_err(io_error)?;
        result.bytes().await.map_err(io_error)
    }

    /// The byte `ranges` of the object at `key`, fetched concurrently (nearby ranges
    /// coalesced into one request).
    pub fn get_ranges(&self, key: &str, ranges: &[Range<u64>]) -> std::io::Result<Vec<Bytes>> {
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        runtime()
            .block_on(self.store.get_ranges(&ObjectPath::from(key), ranges))
            .map_err(io_error)
    }

    /// Store `bytes` at `key`, replacing any object there. A PUT lands whole or
    /// not at all.
    pub fn put(&self, key: &str, bytes: Bytes) -> std::io::Result<()> {
        runtime()
            .block_on(self.store.put(&ObjectPath::from(key), bytes.into()))
            .map(|_| ())
            .map_err(io_error)
    }

    /// Store `bytes` at `key` only if nothing is there (`If-None-Match: *`); an
    /// existing object is an error of kind `AlreadyExists`.
    pub fn put_if_absent(&self, key: &str, bytes: Bytes) -> std::io::Result<()> {
        let options = PutOptions::from(PutMode::Create);
        runtime()
            .block_on(
                self.store
                    .put_opts(&ObjectPath::from(key), bytes.into(), options),
            )
            .map(|_| ())
            .map_err(io_error)
    }

    /// Upload the local file at `path` to `key`: one PUT up to
    /// [`S3Options::multipart_threshold`], a multipart upload above it. Either way the object
    /// appears whole or not at all.
    pub fn upload(&self, key: &str, path: &std::path::Path) -> std::io::Result<()> {
        let size = std::fs::metadata(path)?.len();
        if size <= self.multipart_threshold as u64 {
            return self.put(key, Bytes::from(std::fs::read(path)?));
        }
        runtime().block_on(async {
            let upload = self
                .store
                .put_multipart(&ObjectPath::from(key))
                .await
                .map_err(io_error)?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, MULTIPART_CHUNK);
            match write_parts(&mut writer, path).await {
                Ok(()) => writer.finish().await.map(|_| ()).map_err(io_error),
                Err(error) => {
                    // Parts already uploaded would otherwise stay, unseen and billed.
                    let _ = writer.abort().await;
                    Err(error)
                }
            }
        })
    }

    /// Every object under `prefix` (a whole path segment), in key order.
    pub fn list_all(&self, prefix: &str) -> std::io::Result<Vec<ListedObject>> {
        let prefix = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
        let objects = runtime()
            .block_on(self.store.list(prefix.as_ref()).try_collect::<Vec<_>>())
            .map_err(io_error)?;
        Ok(in_key_order(objects))
    }

    /// The bucket's clock: write an empty object at `probe_key`, read its
    /// `LastModified`, and delete it.
    pub fn server_time(&self, probe_key: &str) -> std::io::Result<std::time::SystemTime> {
        self.put(probe_key, Bytes::new())?;
        let head = runtime().block_on(self.store.head(&ObjectPath::from(probe_key)));
        self.delete_object(probe_key)?;
        Ok(head.map_err(io_error)?.last_modified.into())
    }

    /// Whether any object lies under `prefix` (a whole path segment): one request.
    pub fn any_under(&self, prefix: &str) -> std::io::Result<bool> {
        let prefix = ObjectPath::from(prefix);
        runtime()
            .block_on(self.store.list(Some(&prefix)).next())
            .transpose()
            .map(|first| first.is_some())
            .map_err(io_error)
    }

    /// The "directories" directly under `prefix`: the common prefixes of a listing
    /// with the `/` delimiter, as keys without the trailing `/`.
    pub fn list_dirs(&self, prefix: &str) -> std::io::Result<Vec<String>> {
        let prefix = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
        let listed = runtime()
            .block_on(self.store.list_with_delimiter(prefix.as_ref()))
            .map_err(io_error)?;
        Ok(listed
            .common_prefixes
            .into_iter()
            .map(|dir| dir.as_ref().to_string())
            .collect())
    }

    /// Delete the object at `key`; a missing object is not an error.
    pub fn delete_object(&self, key: &str) -> std::io::Result<()> {
        match runtime().block_on(self.store.delete(&ObjectPath::from(key))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(io_error(error)),
        }
    }
    /// Every object under `prefix` (a whole path segment) whose key sorts after
    /// `offset`, in key order: how the Delta log is listed from a checkpoint on.
    pub fn list_after(&self, prefix: &str, offset: &str) -> std::io::Result<Vec<ListedObject>> {
        let prefix = ObjectPath::from(prefix);
        let offset = ObjectPath::from(offset);
        let objects = runtime()
            .block_on(
                self.store
                    .list_with_offset(Some(&prefix), &offset)
                    .try_collect::<Vec<_>>(),
            )
            .map_err(io_error)?;
        Ok(in_key_order(objects))
    }

    /// The last `length` bytes of each object at `keys` (all of one that is
    /// shorter), up to the bucket's concurrency at once, in order.
    pub fn get_tails(&self, keys: &[String], length: u64) -> Vec<std::io::Result<Bytes>> {
        let requests = keys.iter().map(|key| async move {
            let options = object_store::GetOptions::new()
                .with_range(Some(object_store::GetRange::Suffix(length)));
            let result = self
                .store
                .get_opts(&ObjectPath::from(key.as_str()), options)
                .await
                .map_err(io_error)?;
            result.bytes().await.map_err(io_error)
        });
        in_order(requests, self.concurrency)
    }

    /// The size of the object at `key`, or `None` when there is none.
    pub fn size(&self, key: &str) -> std::io::Result<Option<u64>> {
        match runtime().block_on(self.store.head(&ObjectPath::from(key))) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(io_error(error)),
        }
    }

    /// Copy the object at `from` to `to` on the server, replacing any object there.
    pub fn copy(&self, from: &str, to: &str) -> std::io::Result<()> {
        runtime()
            .block_on(
                self.store
                    .copy(&ObjectPath::from(from), &ObjectPath::from(to)),
            )
            .map_err(io_error)
    }
}

/// Hand the file at `path` to a multipart upload, chunk by chunk.
async fn write_parts(writer: &mut WriteMultipart, path: &std::path::Path) -> std::io::Result<()> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut chunk = vec![0; MULTIPART_CHUNK];
    loop {
        let read = file.read(&mut chunk)?;
        if read == 0 {
            return Ok(());
        }
        writer
            .wait_for_capacity(MULTIPART_IN_FLIGHT)
            .await
            .map_err(io_error)?;
        writer.write(&chunk[..read]);
    }
}

/// Default size above which a file is uploaded in parts: one PUT is simplest, and
/// parts let a large file upload with several requests at once.
pub const DEFAULT_MULTIPART_THRESHOLD: usize = 64 << 20;
/// The size of one part of a multipart upload (S3's minimum is 5 MiB).
const MULTIPART_CHUNK: usize = 16 << 20;
/// Parts of one multipart upload in flight at once.
const MULTIPART_IN_FLIGHT: usize = 4;

/// One object found by [`S3Bucket::list_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// The object's key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written.
    pub last_modified: std::time::SystemTime,
}

/// Split `s3://bucket/prefix` into bucket and prefix.
pub fn parse_url(url: &str) -> Result<(String, String), StoreError> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| StoreError::Url(format!("{url}: not an s3:// URL")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(StoreError::Url(format!("{url}: no bucket name")));
    }
    Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

/// The shared runtime for S3 requests; callers stay synchronous.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("trailpack-s3")
            .enable_all()
            .build()
            .expect("the S3 runtime starts")
    })
}

/// Run one S3 request (or any future) on the shared runtime and wait for it.
pub fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

/// An `object_store` error as an I/O error, keeping "not found" and "already
/// exists" recognisable by their kind.
pub fn io_error(error: object_store::Error) -> std::io::Error {
    match error {
        object_store::Error::NotFound { .. } => {
            std::io::Error::new(std::io::ErrorKind::NotFound, error)
        }
        object_store::Error::AlreadyExists { .. } => {
            std::io::Error::new(std::io::ErrorKind::AlreadyExists, error)
        }
        other => std::io::Error::other(other),
    }
}

/// Run `requests`, `concurrency` at a time, and return their results in order. They
/// complete out of order, so that one slow response does not hold back the requests
/// behind it (a window that only moves with its oldest request ran 12% slower on
/// 20,000 GETs: docs/BENCHMARKS.md). Local-only runs never start the runtime.
pub fn in_order<T>(
    requests: impl Iterator<Item = impl Future<Output = T>>,
    concurrency: usize,
) -> Vec<T> {
    let mut requests = requests.enumerate().peekable();
    if requests.peek().is_none() {
        return Vec::new();
    }
    let mut results: Vec<(usize, T)> = runtime().block_on(
        futures::stream::iter(requests)
            .map(|(index, request)| async move { (index, request.await) })
            .buffer_unordered(concurrency.max(1))
            .collect(),
    );
    results.sort_unstable_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

/// Listed objects as [`ListedObject`]s, sorted by key: a listing's order is the
/// store's.
fn in_key_order(metas: Vec<object_store::ObjectMeta>) -> Vec<ListedObject> {
    let mut objects: Vec<ListedObject> = metas
        .into_iter()
        .map(|meta| ListedObject {
            key: meta.location.as_ref().to_string(),
            size: meta.size,
            last_modified: meta.last_modified.into(),
        })
        .collect();
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    objects
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            parse_url("s3://bucket/a/b/").unwrap(),
            ("bucket".to_string(), "a/b".to_string())
        );
        assert_eq!(
            parse_url("s3://bucket").unwrap(),
            ("bucket".to_string(), String::new())
        );
        assert!(parse_url("s3:///key").is_err());
        assert!(parse_url("/local/path").is_err());
    }
}
