//! Optional multi-threading. With the `std` feature a [`Threads`] owns a rayon pool of a fixed
//! size; without it (or with one thread) work runs on the caller's thread. Work is always split
//! into pieces whose results do not depend on how many threads run them, so outputs are
//! bit-identical for any thread count.

#[cfg(feature = "std")]
use alloc::sync::Arc;

/// A fixed-size set of worker threads (or the calling thread alone).
#[derive(Clone)]
pub struct Threads {
    count: usize,
    #[cfg(feature = "std")]
    pool: Option<Arc<rayon::ThreadPool>>,
}

impl core::fmt::Debug for Threads {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Threads({})", self.count)
    }
}

impl Default for Threads {
    fn default() -> Self {
        Self::single()
    }
}

impl Threads {
    /// Runs everything on the calling thread.
    pub fn single() -> Self {
        Threads {
            count: 1,
            #[cfg(feature = "std")]
            pool: None,
        }
    }

    /// A pool of `count` threads (`0` means one per available core).
    #[cfg(feature = "std")]
    pub fn new(count: usize) -> super::Result<Self> {
        let count = if count == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            count
        };
        if count == 1 {
            return Ok(Self::single());
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(count)
            .thread_name(|i| alloc::format!("kestrel-{i}"))
            .build()
            .map_err(|e| super::Error::Io(alloc::format!("cannot start threads: {e}")))?;
        Ok(Threads {
            count,
            pool: Some(Arc::new(pool)),
        })
    }

    /// Runs `f` on one of the pool's threads (directly when there is no pool): parallel
    /// work that `f` then starts is shared with the thread already running, instead of being
    /// handed to the pool from outside and waited for.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        #[cfg(feature = "std")]
        if let Some(pool) = &self.pool {
            return pool.install(f);
        }
        f()
    }

    /// Number of threads work is spread over.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Calls `f(i, a_chunk, b_chunk)` for the `i`-th pieces of `a` and `b` together, in
    /// parallel where possible (`b` must have at least as many pieces as `a`).
    pub fn for_each_pair_mut<T: Send, U: Send>(
        &self,
        a: &mut [T],
        a_chunk: usize,
        b: &mut [U],
        b_chunk: usize,
        f: impl Fn(usize, &mut [T], &mut [U]) + Sync + Send,
    ) {
        let (a_chunk, b_chunk) = (a_chunk.max(1), b_chunk.max(1));
        #[cfg(feature = "std")]
        if let Some(pool) = &self.pool
            && a.len() > a_chunk
        {
            use rayon::prelude::*;
            pool.install(|| {
                a.par_chunks_mut(a_chunk)
                    .zip(b.par_chunks_mut(b_chunk))
                    .enumerate()
                    .for_each(|(i, (x, y))| f(i, x, y))
            });
            return;
        }
        a.chunks_mut(a_chunk)
            .zip(b.chunks_mut(b_chunk))
            .enumerate()
            .for_each(|(i, (x, y))| f(i, x, y));
    }

    /// Calls `f(i, chunk)` for each `chunk`-sized piece of `data`, in parallel where possible.
    pub fn for_each_chunk_mut<T: Send>(
        &self,
        data: &mut [T],
        chunk: usize,
        f: impl Fn(usize, &mut [T]) + Sync + Send,
    ) {
        let chunk = chunk.max(1);
        #[cfg(feature = "std")]
        if let Some(pool) = &self.pool
            && data.len() > chunk
        {
            use rayon::prelude::*;
            pool.install(|| {
                data.par_chunks_mut(chunk)
                    .enumerate()
                    .for_each(|(i, c)| f(i, c))
            });
            return;
        }
        data.chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    }
}
