//! The seeded generator of the kernel tests, so every failure reproduces.

/// A linear congruential generator (Numerical Recipes' constants), 24 bits per draw.
pub(crate) struct Lcg(pub(crate) u32);

impl Lcg {
    /// The next 24-bit value.
    pub(crate) fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(1664525).wrapping_add(1013904223);
        self.0 >> 8
    }

    /// The next value in `0..1`.
    pub(crate) fn unit(&mut self) -> f32 {
        self.next() as f32 / (1u32 << 24) as f32
    }
}

/// `n` values in `-1..1` from seed `seed`.
pub(crate) fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut lcg = Lcg(seed);
    (0..n).map(|_| lcg.unit() * 2.0 - 1.0).collect()
}
