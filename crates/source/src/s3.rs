//! S3 sources: parallel prefix listing down to month prefixes, bounded concurrent
//! GETs that keep digest metadata, and deletion, over [`S3Bucket`].

use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, ObjectMeta, ObjectStoreExt};
use trailpack_store::{S3Bucket, S3Options, block_on, in_order, io_error, parse_url};

use crate::{Listing, Location, SourceError, SourceFile, key_from_components, parse_file_name};

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
            let found = block_on(walk(&walker, &prefix, |objects| {
                sender.send(Ok(objects)).is_ok()
            }));
            match found {
                // The URL may name one object rather than a prefix.
                Ok(0) if !prefix.is_empty() => {
                    let head = block_on(
                        walker
                            .object_store()
                            .head(&ObjectPath::from(prefix.as_str())),
                    );
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
    let store = bucket.object_store();
    let root = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
    let mut pending = vec![root];
    let mut running = FuturesUnordered::new();
    let mut count = 0;
    loop {
        while running.len() < bucket.concurrency() {
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

async fn get(bucket: &S3Bucket, key: &str) -> std::io::Result<Fetched> {
    let result = bucket
        .object_store()
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
    let concurrency = objects
        .first()
        .map_or(1, |(bucket, _)| bucket.concurrency());
    in_order(
        objects.iter().map(|(bucket, key)| get(bucket, key)),
        concurrency,
    )
}

/// Delete S3 objects, `concurrency` at a time, in order.
pub(crate) fn delete(objects: &[(&Arc<S3Bucket>, &str)]) -> Vec<std::io::Result<()>> {
    let concurrency = objects
        .first()
        .map_or(1, |(bucket, _)| bucket.concurrency());
    let requests = objects.iter().map(|(bucket, key)| async move {
        bucket
            .object_store()
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
