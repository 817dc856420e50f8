//! The seeded generator of the core's unit tests, so every failure reproduces: fastrand's, as
//! in the integration tests' `tests/common`.

/// A seeded generator.
pub(crate) struct Seeded(fastrand::Rng);

impl Seeded {
    /// The generator of seed `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(fastrand::Rng::with_seed(seed))
    }

    /// The next 24-bit value.
    pub(crate) fn next(&mut self) -> u32 {
        self.0.u32(..1 << 24)
    }

    /// The next value in `0..1`.
    pub(crate) fn unit(&mut self) -> f32 {
        self.0.f32()
    }
}

/// `n` values in `-1..1` from seed `seed`.
pub(crate) fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Seeded::new(seed);
    (0..n).map(|_| rng.unit() * 2.0 - 1.0).collect()
}
