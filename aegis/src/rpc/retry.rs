//! Client retry policy (the Python AegisSDK's `RetryPolicy`): exponential backoff with jitter.

use std::time::Duration;

/// How a client retries calls that did not reach a serving instance: no responders, and for
/// `#[exclusive_rpc]` methods NOT_ACTIVE (a standby answered, or no leader yet).
///
/// The delay before retry `n` (1-based) is `initial_delay_ms × backoff_multiplier^(n-1)`,
/// capped at `max_delay_ms`, then spread by ± `jitter_factor`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the first retry.
    pub initial_delay_ms: u64,
    /// Largest delay between attempts.
    pub max_delay_ms: u64,
    /// Growth of the delay per retry.
    pub backoff_multiplier: f64,
    /// Relative random spread of each delay (0.1 = ±10 %).
    pub jitter_factor: f64,
}

impl Default for RetryPolicy {
    /// The Python AegisSDK's values: 5 attempts, 100 ms doubling up to 5 s, ±10 % jitter.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_delay_ms: 100,
            max_delay_ms: 5_000,
            backoff_multiplier: 2.0,
            jitter_factor: 0.1,
        }
    }
}

impl RetryPolicy {
    /// A single attempt.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The delay before retry number `retry` (1 for the first retry).
    pub fn delay(&self, retry: u32) -> Duration {
        let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let base = self.initial_delay_ms as f64 * self.backoff_multiplier.max(1.0).powi(exponent);
        let capped = base.min(self.max_delay_ms as f64).max(0.0);
        let jitter = self.jitter_factor.clamp(0.0, 1.0);
        let spread = 1.0 + jitter * (2.0 * rand::random::<f64>() - 1.0);
        Duration::from_secs_f64(capped * spread / 1_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_cap_and_jitter() {
        let policy = RetryPolicy::default();
        for _ in 0..100 {
            let first = policy.delay(1).as_secs_f64();
            assert!((0.09..=0.11).contains(&first), "{first}");
            let third = policy.delay(3).as_secs_f64();
            assert!((0.36..=0.44).contains(&third), "{third}");
            let late = policy.delay(30).as_secs_f64();
            assert!((4.5..=5.5).contains(&late), "{late}");
        }
        assert_eq!(RetryPolicy::none().max_attempts, 1);
    }
}
