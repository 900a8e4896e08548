//! A state folder kept in shared storage (`[state] backend = "s3"` or `"azblob"`): the journal, the state
//! file and the lock as objects under `<prefix>/<name>/`, so that a restore weeks later works from any
//! machine and two people cannot apply at once.
//!
//! The journal and the state file are worked on in a local copy (a private temporary folder) and each
//! write is sent whole, in one request, before the step moves on: the objects are always complete, the
//! old record or the new one. The copy is fetched when the folder is opened and again once the lock is
//! held. The lock is an object created only if absent (S3: `If-None-Match: *`) or a leased blob (Azure).
//!
//! The callers are synchronous (the executor's bookkeeping holds no await), so each request is run to
//! completion here on the current runtime.

use crate::clients::store::blob::{Container, Lease};
use crate::clients::store::s3::Bucket;
use crate::clients::store::{Created, StoreError};
use std::future::Future;

/// Where the objects live.
#[derive(Debug)]
pub enum Objects {
    S3(Bucket),
    Blob(Container),
}

/// The objects of one spec's state.
#[derive(Debug)]
pub struct Remote {
    objects: Objects,
    /// `<prefix>/<name>/`, or `<name>/` without a prefix.
    folder: String,
}

/// What creating the lock object found.
pub(super) enum Taken {
    /// The lock is ours; for a blob, under this lease.
    Ours(Option<String>),
    /// Someone holds it; what the lock object says, if it could be read.
    Held(Option<Vec<u8>>),
}

impl Remote {
    /// The state of the spec `name` under `prefix` (may be empty) in `objects`.
    pub fn new(objects: Objects, prefix: &str, name: &str) -> Self {
        let prefix = prefix.trim_matches('/');
        let folder = if prefix.is_empty() { format!("{name}/") } else { format!("{prefix}/{name}/") };
        Self { objects, folder }
    }

    /// Where the state lives, for messages: `s3://bucket/prefix/name/` or the blob folder's URL.
    pub fn location(&self) -> String {
        self.location_of("")
    }

    pub(super) fn location_of(&self, file: &str) -> String {
        let key = format!("{}{file}", self.folder);
        match &self.objects {
            Objects::S3(bucket) => bucket.location(&key),
            Objects::Blob(container) => container.location(&key),
        }
    }

    /// The object `file`'s bytes, if it exists.
    pub(super) fn get(&self, file: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = format!("{}{file}", self.folder);
        block(async {
            match &self.objects {
                Objects::S3(bucket) => bucket.get(&key).await,
                Objects::Blob(container) => container.get(&key).await,
            }
        })
    }

    /// Replaces the object `file` with `bytes`, in one request.
    pub(super) fn put(&self, file: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let key = format!("{}{file}", self.folder);
        block(async {
            match &self.objects {
                Objects::S3(bucket) => bucket.put(&key, bytes).await,
                Objects::Blob(container) => container.put(&key, bytes, None).await,
            }
        })
    }

    /// Takes the lock object `file` with `bytes` as its content, or says who holds it.
    pub(super) fn take(&self, file: &str, bytes: Vec<u8>) -> Result<Taken, StoreError> {
        let key = format!("{}{file}", self.folder);
        block(async {
            match &self.objects {
                Objects::S3(bucket) => match bucket.create(&key, bytes).await? {
                    Created::Created => Ok(Taken::Ours(None)),
                    Created::Exists => Ok(Taken::Held(bucket.get(&key).await?)),
                },
                Objects::Blob(container) => {
                    // The blob must exist to be leased; whoever created it, the lease decides.
                    container.create(&key, Vec::new()).await?;
                    match container.acquire_lease(&key).await? {
                        Some(lease) => {
                            container.put(&key, bytes, Some(&lease)).await?;
                            Ok(Taken::Ours(Some(lease)))
                        }
                        None => {
                            // The holder writes who it is just after taking the lease: give it a moment.
                            for _ in 0..20 {
                                match container.get(&key).await? {
                                    Some(bytes) if !bytes.is_empty() => return Ok(Taken::Held(Some(bytes))),
                                    _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
                                }
                            }
                            Ok(Taken::Held(container.get(&key).await?))
                        }
                    }
                }
            }
        })
    }

    /// The lock object's content while a lock is held (a blob's only while it is leased).
    pub(super) fn held(&self, file: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = format!("{}{file}", self.folder);
        block(async {
            match &self.objects {
                Objects::S3(bucket) => bucket.get(&key).await,
                Objects::Blob(container) => match container.lease(&key).await? {
                    Lease::Held => container.get(&key).await,
                    Lease::Free | Lease::Missing => Ok(None),
                },
            }
        })
    }

    /// Removes the lock object; `lease` is ours, or `None` to break whoever's it is.
    pub(super) fn release(&self, file: &str, lease: Option<&str>) -> Result<(), StoreError> {
        let key = format!("{}{file}", self.folder);
        block(async {
            match &self.objects {
                Objects::S3(bucket) => bucket.delete(&key).await,
                Objects::Blob(container) => {
                    if lease.is_none() {
                        container.break_lease(&key).await?;
                    }
                    container.delete(&key, lease).await
                }
            }
        })
    }
}

/// Runs `future` to completion from synchronous code, in a helper thread: on the current multi-threaded
/// runtime (whose drivers keep running), or on a runtime of its own where there is none or only a
/// single-threaded one (blocked by this very call). Never on the calling thread itself: a `block_on` there
/// would share the thread's wake-up token with the task being polled and could swallow its wake-up.
fn block<F: Future + Send>(future: F) -> F::Output
where
    F::Output: Send,
{
    let in_thread = |run: &(dyn Fn(F) -> F::Output + Sync)| {
        std::thread::scope(|scope| scope.spawn(|| run(future)).join().expect("the request's thread does not panic"))
    };
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| in_thread(&|future| handle.block_on(future)))
        }
        _ => in_thread(&|future| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for one request")
                .block_on(future)
        }),
    }
}
