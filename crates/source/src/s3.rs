//! S3 through `object_store`: parallel prefix listing, bounded concurrent GETs with
//! retries, digest metadata and deletion for sources, and the plain object operations
//! (get, put, conditional put, upload, list, delete) an archive on S3 is built from.

use std::ops::Range;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, BackoffConfig, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions,
    RetryConfig, WriteMultipart,
};

use crate::{Listing, Location, SourceError, SourceFile, key_from_components, parse_file_name};

/// Default number of S3 requests in flight at once: enough to hide S3's first-byte
/// latency (tens of ms) behind two decoding threads, well under S3's per-prefix
/// request rates.
pub const DEFAULT_S3_CONCURRENCY: usize = 256;
/// Default retries of a throttled (503 SlowDown) or failed request, with
/// exponential backoff from [`DEFAULT_S3_BACKOFF`] up to 15 s.
pub const DEFAULT_S3_RETRIES: usize = 10;
/// Default first backoff after a throttled or failed request.
pub const DEFAULT_S3_BACKOFF: Duration = Duration::from_millis(100);

/// How to reach S3. Credentials and the region come from the standard AWS
/// environment (`AWS_ACCESS_KEY_ID`, `AWS_SESSION_TOKEN`, `AWS_REGION`, web
/// identity, ECS task roles, EC2 instance profiles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Options {
    /// Endpoint of an S3-compatible store; `AWS_ENDPOINT_URL` when `None`.
    pub endpoint: Option<String>,
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
    /// Open `bucket` with `options`.
    pub fn open(bucket: &str, options: &S3Options) -> Result<Arc<S3Bucket>, SourceError> {
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
        if let Some(endpoint) = &options.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let endpoint = options
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
        if endpoint.is_some_and(|e| e.starts_with("http://")) {
            builder = builder.with_allow_http(true);
        }
        let store = builder.build().map_err(|error| SourceError::S3 {
            url: format!("s3://{bucket}"),
            error,
        })?;
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
        let mut objects: Vec<ListedObject> = runtime()
            .block_on(self.store.list(prefix.as_ref()).try_collect::<Vec<_>>())
            .map_err(io_error)?
            .into_iter()
            .map(|meta| ListedObject {
                key: meta.location.as_ref().to_string(),
                size: meta.size,
                last_modified: meta.last_modified.into(),
            })
            .collect();
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
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

/// What S3 keeps beside a digest file's bytes, in its user metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMetadata {
    /// `x-amz-meta-signature`: the hex RSA signature of a digest file.
    pub signature: Option<String>,
    /// `x-amz-meta-signature-algorithm`, such as `SHA256withRSA`.
    pub signature_algorithm: Option<String>,
    /// `x-amz-meta-backfill-generation-timestamp` of a backfill digest.
    pub backfill_generation_timestamp: Option<String>,
}

/// A source file's bytes, with its metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    /// The stored bytes.
    pub bytes: Vec<u8>,
    /// User metadata (always empty for local files).
    pub metadata: ObjectMetadata,
}

/// Split `s3://bucket/prefix` into bucket and prefix.
pub fn parse_url(url: &str) -> Result<(String, String), SourceError> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| SourceError::Url(format!("{url}: not an s3:// URL")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(SourceError::Url(format!("{url}: no bucket name")));
    }
    Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

/// The shared runtime for S3 requests; callers stay synchronous.
fn runtime() -> &'static tokio::runtime::Runtime {
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

/// Whether a listed prefix is a month directory (`.../YYYY/MM`) of a CloudTrail
/// layout: below it, one flat listing (about 9 pages for a region's month of
/// 5-minute deliveries) costs fewer requests than a walk through the day levels,
/// and the months of a tree list in parallel.
fn is_month_prefix(prefix: &str) -> bool {
    let mut parts = prefix.rsplit('/');
    let mut digits = |len: usize| {
        parts
            .next()
            .is_some_and(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
    };
    digits(2) && digits(4)
}

/// List `s3://bucket/prefix`, fanning out over the prefix tree with
/// `options.concurrency` listings in flight, down to month prefixes.
pub fn list(url: &str, options: &S3Options) -> Result<Listing, SourceError> {
    let mut listing = Listing::default();
    for batch in list_batches(url, options)? {
        let batch = batch?;
        listing.files.extend(batch.files);
        listing.skipped.extend(batch.skipped);
    }
    listing.files.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(listing)
}

/// List `s3://bucket/prefix` like [`list`], but hand over what each listing request
/// finds (a month prefix, under a CloudTrail layout) as soon as it is found, so that
/// archiving starts while the rest of the tree is listed. The listing runs on its
/// own thread; it stops when the iterator is dropped.
pub fn list_batches(
    url: &str,
    options: &S3Options,
) -> Result<impl Iterator<Item = Result<Listing, SourceError>> + Send + use<>, SourceError> {
    let (bucket_name, prefix) = parse_url(url)?;
    let bucket = S3Bucket::open(&bucket_name, options)?;
    let (sender, batches) = std::sync::mpsc::sync_channel::<Result<Vec<ObjectMeta>, SourceError>>(
        LISTING_BATCHES_AHEAD,
    );
    let walked_url = url.to_string();
    let root_components = prefix.split('/').filter(|c| !c.is_empty()).count();
    let walker = Arc::clone(&bucket);
    let listing = std::thread::Builder::new()
        .name("trailpack-s3-list".into())
        .spawn(move || {
            let error = |error| SourceError::S3 {
                url: walked_url.clone(),
                error,
            };
            let found = runtime().block_on(walk(&walker, &prefix, |objects| {
                sender.send(Ok(objects)).is_ok()
            }));
            match found {
                // The URL may name one object rather than a prefix.
                Ok(0) if !prefix.is_empty() => {
                    let head =
                        runtime().block_on(walker.store.head(&ObjectPath::from(prefix.as_str())));
                    let _ = match head {
                        Ok(meta) => sender.send(Ok(vec![meta])),
                        Err(object_store::Error::NotFound { .. }) => Ok(()),
                        Err(e) => sender.send(Err(error(e))),
                    };
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = sender.send(Err(error(e)));
                }
            }
        })
        .map_err(|e| SourceError::Url(format!("{url}: cannot start listing: {e}")))?;
    let mut listing = Some(listing);
    let url = url.to_string();
    Ok(std::iter::from_fn(move || match batches.recv() {
        Ok(objects) => Some(objects.map(|o| to_listing(&bucket, root_components, o))),
        // The listing ended, or its thread died: a listing cut short is an error,
        // never a smaller tree.
        Err(_) => listing.take()?.join().is_err().then(|| {
            Err(SourceError::Url(format!(
                "{url}: the listing stopped unexpectedly"
            )))
        }),
    }))
}

/// Listed batches buffered ahead of the archive.
const LISTING_BATCHES_AHEAD: usize = 64;

/// The CloudTrail files and the skipped objects among `objects`, sorted by key.
fn to_listing(bucket: &Arc<S3Bucket>, root_components: usize, objects: Vec<ObjectMeta>) -> Listing {
    let mut listing = Listing::default();
    for meta in objects {
        let key = meta.location.as_ref().to_string();
        let location = Location::S3 {
            bucket: Arc::clone(bucket),
            key: key.clone(),
        };
        let name = key.rsplit('/').next().unwrap_or(&key);
        let Some(parsed) = parse_file_name(name) else {
            listing.skipped.push(crate::Skipped {
                location,
                reason: "not a CloudTrail file name".into(),
            });
            continue;
        };
        let components: Vec<&str> = key.split('/').collect();
        listing.files.push(SourceFile {
            location,
            key: key_from_components(&components, root_components.min(components.len() - 1)),
            size: meta.size,
            name: parsed,
        });
    }
    listing.files.sort_by(|a, b| a.key.cmp(&b.key));
    listing
}

/// Every object under `prefix`, listing directories in parallel and handing each
/// request's objects to `found` (which returns `false` to stop). Returns how many
/// objects were found.
async fn walk(
    bucket: &S3Bucket,
    prefix: &str,
    mut found: impl FnMut(Vec<ObjectMeta>) -> bool,
) -> object_store::Result<usize> {
    let store = &bucket.store;
    let root = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
    let mut pending = vec![root];
    let mut running = FuturesUnordered::new();
    let mut count = 0;
    loop {
        while running.len() < bucket.concurrency {
            let Some(dir) = pending.pop() else { break };
            running.push(async move {
                let flat = dir.as_ref().is_some_and(|d| is_month_prefix(d.as_ref()));
                if flat {
                    let objects: Vec<ObjectMeta> = store.list(dir.as_ref()).try_collect().await?;
                    Ok::<_, object_store::Error>((objects, Vec::new()))
                } else {
                    let listed = store.list_with_delimiter(dir.as_ref()).await?;
                    Ok((listed.objects, listed.common_prefixes))
                }
            });
        }
        let Some(done) = running.next().await else {
            break;
        };
        let (objects, dirs) = done?;
        pending.extend(dirs.into_iter().map(Some));
        if !objects.is_empty() {
            count += objects.len();
            if !found(objects) {
                break;
            }
        }
    }
    Ok(count)
}

fn io_error(error: object_store::Error) -> std::io::Error {
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

async fn get(bucket: &S3Bucket, key: &str) -> std::io::Result<Fetched> {
    let result = bucket
        .store
        .get(&ObjectPath::from(key))
        .await
        .map_err(io_error)?;
    let mut metadata = ObjectMetadata::default();
    for (attribute, value) in result.attributes.iter() {
        let Attribute::Metadata(name) = attribute else {
            continue;
        };
        let value = Some(value.as_ref().to_string());
        match name.as_ref() {
            "signature" => metadata.signature = value,
            "signature-algorithm" => metadata.signature_algorithm = value,
            "backfill-generation-timestamp" => metadata.backfill_generation_timestamp = value,
            _ => {}
        }
    }
    let bytes = result.bytes().await.map_err(io_error)?;
    Ok(Fetched {
        bytes: bytes.to_vec(),
        metadata,
    })
}

/// Fetch S3 objects, `concurrency` at a time, in order.
pub(crate) fn fetch(objects: &[(&Arc<S3Bucket>, &str)]) -> Vec<std::io::Result<Fetched>> {
    let concurrency = objects.first().map_or(1, |(bucket, _)| bucket.concurrency);
    in_order(
        objects.iter().map(|(bucket, key)| get(bucket, key)),
        concurrency,
    )
}

/// Run `requests`, `concurrency` at a time, and return their results in order. They
/// complete out of order, so that one slow response does not hold back the requests
/// behind it (a window that only moves with its oldest request ran 12% slower on
/// 20,000 GETs: docs/BENCHMARKS.md). Local-only runs never start the runtime.
fn in_order<T>(
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

/// Delete S3 objects, `concurrency` at a time, in order.
pub(crate) fn delete(objects: &[(&Arc<S3Bucket>, &str)]) -> Vec<std::io::Result<()>> {
    let concurrency = objects.first().map_or(1, |(bucket, _)| bucket.concurrency);
    let requests = objects.iter().map(|(bucket, key)| async move {
        bucket
            .store
            .delete(&ObjectPath::from(*key))
            .await
            .map_err(io_error)
    });
    in_order(requests, concurrency)
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

    #[test]
    fn finds_month_prefixes() {
        assert!(is_month_prefix(
            "AWSLogs/111122223333/CloudTrail/us-east-1/2021/01"
        ));
        assert!(!is_month_prefix(
            "AWSLogs/111122223333/CloudTrail/us-east-1/2021"
        ));
        assert!(!is_month_prefix(
            "AWSLogs/111122223333/CloudTrail/us-east-1"
        ));
        assert!(!is_month_prefix("2021/1"));
        assert!(!is_month_prefix("01"));
    }
}
