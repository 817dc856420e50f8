//! The classifier's own rayon pool, sized by `threads=` so that Ray's `num_cpus` and Spark's
//! `spark.task.cpus` can match it. A pool's threads do not survive `fork`: a child that called
//! into the parent's pool would wait forever, so the pool remembers the process that built it
//! and a forked child builds its own on first use.

use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyRuntimeError;
use pyo3::PyResult;
use rayon::ThreadPool;

/// A rayon pool that is rebuilt in a forked child.
pub(crate) struct Pool {
    threads: Option<usize>,
    built: Mutex<Option<(u32, Arc<ThreadPool>)>>,
}

impl Pool {
    /// A pool of `threads` threads (`None`: one per core), built on first use.
    pub(crate) fn new(threads: Option<usize>) -> Self {
        Self {
            threads,
            built: Mutex::new(None),
        }
    }

    /// The thread count asked for (`None`: one per core).
    pub(crate) fn threads(&self) -> Option<usize> {
        self.threads
    }

    /// Runs `work` on this process's pool.
    pub(crate) fn install<T: Send>(&self, work: impl FnOnce() -> T + Send) -> PyResult<T> {
        let pool = self.current()?;
        Ok(pool.install(work))
    }

    fn current(&self) -> PyResult<Arc<ThreadPool>> {
        let pid = std::process::id();
        // A poisoned lock only means a panic elsewhere while it was held; the pool is still
        // usable, or rebuilt below.
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((owner, pool)) = built.as_ref() {
            if *owner == pid {
                return Ok(pool.clone());
            }
        }
        let mut builder =
            rayon::ThreadPoolBuilder::new().thread_name(|i| format!("xlmr-sentiment-{i}"));
        if let Some(n) = self.threads {
            builder = builder.num_threads(n);
        }
        let pool = Arc::new(
            builder
                .build()
                .map_err(|e| PyRuntimeError::new_err(format!("cannot start threads: {e}")))?,
        );
        *built = Some((pid, pool.clone()));
        Ok(pool)
    }
}
