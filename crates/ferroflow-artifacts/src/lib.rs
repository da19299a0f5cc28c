//! The artifact repository over `object_store`: a tree of files under relative paths, on a
//! local directory or an S3-compatible bucket (`s3.rs`).
//!
//! Object stores have no directories; a "directory" is any prefix that has files below it,
//! which is also how MLflow's listing treats them.

use bytes::Bytes;
use ferroflow_core::artifacts::{ArtifactBody, ArtifactRepo, FileInfo};
use ferroflow_core::{Error, Result};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, WriteMultipart};
use std::sync::Arc;

mod s3;
pub use s3::S3Settings;

/// Upload parts: S3's smallest part (but the last) is 5 MiB; 8 MiB parts keep a 2 GB file well
/// under the 10,000-part limit.
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts in flight at once per upload: the memory an upload can hold is about
/// `PART_SIZE * (PARTS_IN_FLIGHT + 1)`, whatever the file's size.
const PARTS_IN_FLIGHT: usize = 4;

/// An [`ArtifactRepo`] on any object store.
#[derive(Debug, Clone)]
pub struct ObjectStoreRepo {
    store: Arc<dyn ObjectStore>,
    /// For a local store, its root: deleting a directory also removes the (then empty)
    /// folders, which object stores do not have but a filesystem keeps.
    local_root: Option<std::path::PathBuf>,
}

impl ObjectStoreRepo {
    /// A repository rooted at a local directory, created if missing.
    pub fn local(root: &std::path::Path) -> Result<Self> {
        std::fs::create_dir_all(root)
            .map_err(|e| Error::internal(format!("creating artifact root {}: {e}", root.display())))?;
        let store = LocalFileSystem::new_with_prefix(root)
            .map_err(|e| Error::internal(format!("opening artifact root {}: {e}", root.display())))?;
        Ok(ObjectStoreRepo { store: Arc::new(store), local_root: Some(root.to_path_buf()) })
    }

    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        ObjectStoreRepo { store, local_root: None }
    }

    /// The repository an artifact location names: `s3://bucket[/prefix]` (an S3-compatible
    /// bucket, set up by [`S3Settings`]), or a local directory (a path or a `file://` URI).
    pub fn open(location: &str, s3: &S3Settings) -> Result<Self> {
        if location.starts_with("s3://") {
            return Ok(ObjectStoreRepo::new(s3.open(location)?));
        }
        if let Some((scheme, _)) = location.split_once("://") {
            if scheme != "file" {
                return Err(Error::invalid(format!(
                    "unsupported artifact location '{location}': use a directory, file:// or s3://"
                )));
            }
        }
        let directory = location.strip_prefix("file://").unwrap_or(location);
        ObjectStoreRepo::local(std::path::Path::new(directory))
    }
}

fn object_path(path: &str) -> Result<Path> {
    ferroflow_core::validation::artifact_path(path)?;
    Path::parse(path.trim_matches('/')).map_err(|e| {
        tracing::debug!(path, error = %e, "artifact path refused");
        Error::invalid("Invalid path")
    })
}

fn map_store_error(path: &str, error: object_store::Error) -> Error {
    match error {
        object_store::Error::NotFound { .. } => Error::not_found(format!("No such artifact: '{path}'")),
        other => Error::internal(format!("artifact store failure at '{path}': {other}")),
    }
}

#[async_trait::async_trait]
impl ArtifactRepo for ObjectStoreRepo {
    async fn put(&self, path: &str, mut body: BoxStream<'static, Result<Bytes>>) -> Result<()> {
        let location = object_path(path)?;
        let upload = self.store.put_multipart(&location).await.map_err(|e| map_store_error(path, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) => {
                    // Back-pressure: the body is read no faster than parts are stored.
                    if let Err(error) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                        let _ = writer.abort().await;
                        return Err(map_store_error(path, error));
                    }
                    writer.put(bytes);
                }
                Err(error) => {
                    let _ = writer.abort().await;
                    return Err(error);
                }
            }
        }
        writer.finish().await.map_err(|e| map_store_error(path, e))?;
        Ok(())
    }

    async fn get(&self, path: &str) -> Result<ArtifactBody> {
        let location = object_path(path)?;
        match self.store.get(&location).await {
            Ok(result) => {
                let size = result.meta.size;
                let owned = path.to_string();
                let stream = result.into_stream().map_err(move |e| map_store_error(&owned, e)).boxed();
                Ok(ArtifactBody { size, stream })
            }
            Err(object_store::Error::NotFound { .. }) => {
                let mut below = self.store.list(Some(&location));
                if below.next().await.is_some() {
                    Err(Error::invalid(format!("'{path}' is a directory, not a file")))
                } else {
                    Err(Error::not_found(format!("No such artifact: '{path}'")))
                }
            }
            Err(other) => Err(map_store_error(path, other)),
        }
    }

    async fn list(&self, path: &str) -> Result<Vec<FileInfo>> {
        let trimmed = path.trim_matches('/');
        let prefix = if trimmed.is_empty() { None } else { Some(object_path(trimmed)?) };
        let listing = match self.store.list_with_delimiter(prefix.as_ref()).await {
            Ok(listing) => listing,
            Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(other) => return Err(map_store_error(path, other)),
        };
        let mut entries: Vec<FileInfo> = Vec::new();
        for dir in listing.common_prefixes {
            if let Some(name) = dir.filename() {
                entries.push(FileInfo { path: name.to_string(), is_dir: true, file_size: None });
            }
        }
        for object in listing.objects {
            if let Some(name) = object.location.filename() {
                entries.push(FileInfo { path: name.to_string(), is_dir: false, file_size: Some(object.size) });
            }
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }

    async fn delete(&self, path: &str) -> Result<()> {
        let location = object_path(path)?;
        // A directory is every object below the prefix; a file has nothing below it.
        let below: Vec<Path> = self
            .store
            .list(Some(&location))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(|e| map_store_error(path, e))?;
        if below.is_empty() {
            return match self.store.delete(&location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(other) => Err(map_store_error(path, other)),
            };
        }
        for object in below {
            self.store.delete(&object).await.map_err(|e| map_store_error(path, e))?;
        }
        if let Some(root) = &self.local_root {
            let folder = root.join(path.trim_matches('/'));
            if folder.is_dir() {
                std::fs::remove_dir_all(&folder)
                    .map_err(|e| Error::internal(format!("removing folder {}: {e}", folder.display())))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;

    fn body(text: &'static str) -> BoxStream<'static, Result<Bytes>> {
        stream::iter(vec![Ok(Bytes::from_static(text.as_bytes()))]).boxed()
    }

    #[tokio::test]
    async fn put_list_get_delete() {
        let dir = tempfile::tempdir().unwrap();
        let repo = ObjectStoreRepo::local(dir.path()).unwrap();
        repo.put("1/run/artifacts/a.txt", body("hello")).await.unwrap();
        repo.put("1/run/artifacts/sub/b.txt", body("world!")).await.unwrap();
        let listing = repo.list("1/run/artifacts").await.unwrap();
        assert_eq!(
            listing,
            vec![
                FileInfo { path: "a.txt".into(), is_dir: false, file_size: Some(5) },
                FileInfo { path: "sub".into(), is_dir: true, file_size: None },
            ]
        );
        assert!(repo.list("1/run/artifacts/a.txt").await.unwrap().is_empty());
        assert!(repo.list("nothing/here").await.unwrap().is_empty());
        let got = repo.get("1/run/artifacts/sub/b.txt").await.unwrap();
        let bytes: Vec<Bytes> = got.stream.try_collect().await.unwrap();
        assert_eq!(bytes.concat(), b"world!");
        assert!(
            repo.get("1/run/artifacts/sub").await.unwrap_err().code == ferroflow_core::ErrorCode::InvalidParameterValue
        );
        assert!(repo.get("1/run/artifacts/none").await.unwrap_err().is_not_found());
        repo.delete("1/run/artifacts/sub").await.unwrap();
        assert_eq!(repo.list("1/run/artifacts").await.unwrap().len(), 1);
        assert!(repo.put("../escape", body("x")).await.is_err());
    }
}
