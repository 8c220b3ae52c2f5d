//! Rate limits and quotas per principal and model.
//!
//! A rate is enforced with GCRA (the generic cell rate algorithm): each (principal,
//! model) keeps one number, the theoretical arrival time (TAT) of its next request. A
//! request costing `n` rows moves it `n` emission intervals later; the request passes if
//! that leaves it no more than `burst` intervals ahead of now. A request that would pass
//! after a short wait (at most `delay_ms`) waits instead of being refused; a longer one is
//! refused with 429 and `Retry-After`. A daily quota counts rows per UTC day.
//!
//! The arithmetic is written here rather than taken from `governor`, whose state lives in
//! its own in-memory maps: the state here goes through [`RateStore`], so a store shared
//! by several replicas (Redis, running the same step atomically in a script) can replace
//! [`MemoryStore`]. When the store fails, the request is refused (503,
//! `rate_store_unavailable`) unless the configuration says `fail_open = true`; either way
//! the failure is counted (`aigis_gateway_rate_store_failures_total`).
//!
//! `store = "redis://host:6379/0"` shares the limits between replicas ([`RedisStore`]):
//! each step is one Lua script, atomic in Redis, on Redis's own clock (so the replicas'
//! clocks do not matter), in microseconds; a store that does not answer within 100 ms has
//! failed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;

/// `[serve.limits]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Rows per second per principal and model (`"50/s"`, `"600/min"`, `"10000/h"`).
    pub rate: String,
    /// How many rows may arrive at once above the rate.
    #[serde(default = "one")]
    pub burst: u64,
    /// Wait up to this long for capacity before refusing.
    #[serde(default)]
    pub delay_ms: u64,
    /// Rows per principal and model per UTC day.
    #[serde(default)]
    pub daily_quota: Option<u64>,
    /// Let requests through when the rate store fails (refused by default).
    #[serde(default)]
    pub fail_open: bool,
    /// A store shared by several gateways: `redis://[:password@]host:port/db`. The
    /// in-process store when absent.
    #[serde(default)]
    pub store: Option<String>,
}

fn one() -> u64 {
    1
}

/// The interval between rows a `rate` allows, in nanoseconds.
pub fn parse_rate(rate: &str) -> Result<u64, String> {
    let (count, per) = rate
        .split_once('/')
        .ok_or_else(|| format!("`{rate}` is not a rate like \"50/s\""))?;
    let count: u64 = count
        .trim()
        .parse()
        .ok()
        .filter(|c| *c > 0)
        .ok_or_else(|| format!("`{count}` is not a positive count"))?;
    let window: u64 = match per.trim() {
        "s" | "sec" | "second" => 1_000_000_000,
        "min" | "minute" => 60_000_000_000,
        "h" | "hour" => 3_600_000_000_000,
        "d" | "day" => 86_400_000_000_000,
        other => return Err(format!("`{other}` is not a unit (s, min, h, d)")),
    };
    let interval = window / count;
    if interval == 0 {
        return Err(format!("`{rate}` is more than a billion per second"));
    }
    Ok(interval)
}

/// What the store decided for one GCRA step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Passed; the new TAT was stored. The request must first wait this long (zero when
    /// it is within the burst, at most the delay allowed).
    Allowed { wait: Duration },
    /// Refused; nothing stored. Capacity returns after this long.
    Denied { retry_after: Duration },
}

/// The state of the limits: one TAT per key, and counters per key and day. Each method
/// is one atomic step.
pub trait RateStore: Send + Sync + std::fmt::Debug {
    /// GCRA for `key` at `now` (ns on the store's clock): cost `cost` ns of emission
    /// intervals, allowed `tolerance` ns ahead of now, or `tolerance + delay` after a wait.
    fn gcra(
        &self,
        key: &str,
        now: u64,
        cost: u64,
        tolerance: u64,
        delay: u64,
    ) -> Result<Step, StoreError>;

    /// Adds `rows` to `key`'s count for `day` if that stays within `limit`; returns
    /// whether it did.
    fn charge_daily(&self, key: &str, day: u64, rows: u64, limit: u64) -> Result<bool, StoreError>;

    /// Whether a step waits on the network (and so is run off the async threads).
    fn is_remote(&self) -> bool {
        false
    }
}

/// The store could not answer.
#[derive(Debug, thiserror::Error)]
#[error("the rate store failed: {0}")]
pub struct StoreError(pub String);

/// The in-process store: exact for one gateway; several replicas need a shared store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tats: Mutex<HashMap<String, u64>>,
    days: Mutex<HashMap<String, (u64, u64)>>,
}

impl RateStore for MemoryStore {
    fn gcra(
        &self,
        key: &str,
        now: u64,
        cost: u64,
        tolerance: u64,
        delay: u64,
    ) -> Result<Step, StoreError> {
        let mut tats = self
            .tats
            .lock()
            .map_err(|_| StoreError("a thread failed while holding the rate table".into()))?;
        let tat = tats.get(key).copied().unwrap_or(now).max(now);
        let new_tat = tat.saturating_add(cost);
        let within_burst = now.saturating_add(tolerance);
        let allowed_until = within_burst.saturating_add(delay);
        if new_tat <= allowed_until {
            tats.insert(key.to_owned(), new_tat);
            Ok(Step::Allowed {
                wait: Duration::from_nanos(new_tat.saturating_sub(within_burst)),
            })
        } else {
            Ok(Step::Denied {
                retry_after: Duration::from_nanos(new_tat - allowed_until),
            })
        }
    }

    fn charge_daily(&self, key: &str, day: u64, rows: u64, limit: u64) -> Result<bool, StoreError> {
        let mut days = self
            .days
            .lock()
            .map_err(|_| StoreError("a thread failed while holding the quota table".into()))?;
        let entry = days.entry(key.to_owned()).or_insert((day, 0));
        if entry.0 != day {
            *entry = (day, 0);
        }
        match entry.1.checked_add(rows) {
            Some(total) if total <= limit => {
                entry.1 = total;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// The limits in Redis, shared by every gateway that uses the same server.
pub struct RedisStore {
    client: redis::Client,
    /// A few connections, each used by one request at a time (opened on first use,
    /// dropped on an error and opened again by the next request).
    connections: Vec<Mutex<Option<redis::Connection>>>,
    next: std::sync::atomic::AtomicUsize,
    gcra: redis::Script,
    daily: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URL: it may hold a password.
        f.write_str("RedisStore")
    }
}

/// How long a Redis step may take before the store has failed.
const REDIS_TIMEOUT: Duration = Duration::from_millis(100);

/// One GCRA step on Redis's clock, in microseconds (Lua's numbers are doubles: exact to
/// 2^53, about 285 years of microseconds). Returns {1, wait} or {0, retry_after}.
const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local delay = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + cost
local within = now + tolerance
local allowed_until = within + delay
if new_tat <= allowed_until then
  redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1000)
  return {1, math.max(0, new_tat - within)}
end
return {0, new_tat - allowed_until}
";

/// Adds rows to a day's count if that stays within the limit. Returns 1 or 0.
const DAILY_SCRIPT: &str = r"
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local rows = tonumber(ARGV[1])
if used + rows > tonumber(ARGV[2]) then return 0 end
redis.call('INCRBY', KEYS[1], rows)
redis.call('EXPIRE', KEYS[1], 172800)
return 1
";

impl RedisStore {
    /// A store on the Redis server at `url` (not contacted yet: the first request
    /// connects, and fails like any other step when it cannot).
    pub fn new(url: &str) -> Result<Self, String> {
        if !url.starts_with("redis://") {
            return Err(
                "`store` is a `redis://host:port/db` URL (TLS to Redis is not supported: keep it on a private network)"
                    .into(),
            );
        }
        // The error of a URL that does not parse may quote it: not passed on.
        let client =
            redis::Client::open(url).map_err(|_| "`store` is not a Redis URL".to_owned())?;
        Ok(RedisStore {
            client,
            connections: (0..4).map(|_| Mutex::new(None)).collect(),
            next: std::sync::atomic::AtomicUsize::new(0),
            gcra: redis::Script::new(GCRA_SCRIPT),
            daily: redis::Script::new(DAILY_SCRIPT),
        })
    }

    /// Runs `f` on a connection, opening it if needed and dropping it on an error.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % self.connections.len().max(1);
        let slot = self
            .connections
            .get(i)
            .ok_or_else(|| StoreError("no connection".into()))?;
        let mut slot = slot
            .lock()
            .map_err(|_| StoreError("a thread failed while holding a Redis connection".into()))?;
        if slot.is_none() {
            let con = self
                .client
                .get_connection_with_timeout(REDIS_TIMEOUT)
                .map_err(|e| StoreError(format!("cannot connect to Redis: {}", why(&e))))?;
            con.set_read_timeout(Some(REDIS_TIMEOUT))
                .and_then(|()| con.set_write_timeout(Some(REDIS_TIMEOUT)))
                .map_err(|e| StoreError(format!("Redis: {}", why(&e))))?;
            *slot = Some(con);
        }
        let con = slot
            .as_mut()
            .ok_or_else(|| StoreError("no connection".into()))?;
        f(con).map_err(|e| {
            *slot = None;
            StoreError(format!("Redis: {}", why(&e)))
        })
    }
}

/// What went wrong with Redis, by category only (an error's text may quote the URL, and
/// the URL may hold a password).
fn why(e: &redis::RedisError) -> String {
    if e.is_timeout() {
        "no answer within 100 ms".into()
    } else if e.is_connection_refusal() {
        "connection refused".into()
    } else {
        e.category().to_owned()
    }
}

/// Microseconds, rounded up (a cost is never free).
fn micros(ns: u64) -> u64 {
    ns.div_ceil(1000)
}

impl RateStore for RedisStore {
    fn is_remote(&self) -> bool {
        true
    }

    fn gcra(
        &self,
        key: &str,
        _now: u64,
        cost: u64,
        tolerance: u64,
        delay: u64,
    ) -> Result<Step, StoreError> {
        let (allowed, us): (u8, u64) = self.with(|con| {
            self.gcra
                .key(format!("aigis:gcra:{key}"))
                .arg(micros(cost))
                .arg(tolerance / 1000)
                .arg(delay / 1000)
                .invoke(con)
        })?;
        let d = Duration::from_micros(us);
        Ok(if allowed == 1 {
            Step::Allowed { wait: d }
        } else {
            Step::Denied { retry_after: d }
        })
    }

    fn charge_daily(&self, key: &str, day: u64, rows: u64, limit: u64) -> Result<bool, StoreError> {
        let ok: u8 = self.with(|con| {
            self.daily
                .key(format!("aigis:day:{day}:{key}"))
                .arg(rows)
                .arg(limit)
                .invoke(con)
        })?;
        Ok(ok == 1)
    }
}

/// What a request gets from the limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go on now.
    Pass,
    /// Go on after waiting this long (the capacity is reserved).
    Wait(Duration),
    /// 429: over the rate; retry after this long.
    OverRate(Duration),
    /// 429: over the daily quota; retry after the day ends.
    OverQuota(Duration),
    /// 503: the store failed and the configuration fails closed.
    StoreDown,
    /// A batch with more rows than the burst: it can never pass.
    BatchOverBurst { burst: u64 },
}

/// The limiter of a gateway.
#[derive(Debug)]
pub struct Limiter {
    interval: u64,
    burst: u64,
    delay: Duration,
    daily: Option<u64>,
    fail_open: bool,
    store: Box<dyn RateStore>,
    /// Failures of the store (the metrics' counter once the gateway has one).
    failures: prometheus_client::metrics::counter::Counter,
}

impl Limiter {
    /// A limiter for `config` on `store`; `Err` names what is wrong with the config.
    pub fn new(config: &LimitsConfig, store: Box<dyn RateStore>) -> Result<Self, String> {
        if config.burst == 0 {
            return Err("`burst` must be at least 1".into());
        }
        if config.delay_ms > 60_000 {
            return Err("`delay_ms` must be at most 60000".into());
        }
        if config.daily_quota == Some(0) {
            return Err("`daily_quota` must be above 0".into());
        }
        Ok(Limiter {
            interval: parse_rate(&config.rate)?,
            burst: config.burst,
            delay: Duration::from_millis(config.delay_ms),
            daily: config.daily_quota,
            fail_open: config.fail_open,
            store,
            failures: prometheus_client::metrics::counter::Counter::default(),
        })
    }

    /// The store `config` names: Redis, or in process.
    pub fn store_of(config: &LimitsConfig) -> Result<Box<dyn RateStore>, String> {
        Ok(match &config.store {
            Some(url) => Box::new(RedisStore::new(url)?),
            None => Box::new(MemoryStore::default()),
        })
    }

    /// Counts the store's failures into `counter`.
    pub(crate) fn count_failures(&mut self, counter: prometheus_client::metrics::counter::Counter) {
        self.failures = counter;
    }

    /// Whether its store is reached over the network.
    pub fn is_remote(&self) -> bool {
        self.store.is_remote()
    }

    /// The same limits on another store.
    pub fn with_store(self, store: Box<dyn RateStore>) -> Self {
        Limiter { store, ..self }
    }

    /// Decides for a request of `rows` rows by `principal` to `model` at `now` (ns since
    /// the Unix epoch, so a day boundary is a UTC midnight).
    pub fn check(&self, principal: &str, model: &str, rows: u64, now: u64) -> Verdict {
        let key = format!("{principal}\u{0}{model}");
        let rows = rows.max(1);
        if rows > self.burst {
            return Verdict::BatchOverBurst { burst: self.burst };
        }
        let cost = self.interval.saturating_mul(rows);
        // Up to `burst` intervals ahead now, plus what a wait of `delay` would absorb.
        let tolerance = self.interval.saturating_mul(self.burst);
        let delay = u64::try_from(self.delay.as_nanos()).unwrap_or(u64::MAX);
        // One atomic step: within the burst passes, within the delay waits, past it fails.
        let verdict = match self.store.gcra(&key, now, cost, tolerance, delay) {
            Err(e) => {
                tracing::error!(error = %e, "rate store");
                self.failures.inc();
                return if self.fail_open {
                    Verdict::Pass
                } else {
                    Verdict::StoreDown
                };
            }
            Ok(Step::Denied { retry_after }) => return Verdict::OverRate(retry_after),
            Ok(Step::Allowed { wait }) if wait.is_zero() => Verdict::Pass,
            Ok(Step::Allowed { wait }) => Verdict::Wait(wait),
        };
        if let Some(limit) = self.daily {
            const DAY: u64 = 86_400_000_000_000;
            let day = now / DAY;
            match self.store.charge_daily(&key, day, rows, limit) {
                Ok(true) => {}
                Ok(false) => {
                    return Verdict::OverQuota(Duration::from_nanos(DAY - now % DAY));
                }
                Err(e) => {
                    tracing::error!(error = %e, "rate store");
                    self.failures.inc();
                    if !self.fail_open {
                        return Verdict::StoreDown;
                    }
                }
            }
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: &str, burst: u64, delay_ms: u64, daily: Option<u64>) -> Limiter {
        Limiter::new(
            &LimitsConfig {
                rate: rate.into(),
                burst,
                delay_ms,
                daily_quota: daily,
                fail_open: false,
                store: None,
            },
            Box::new(MemoryStore::default()),
        )
        .unwrap()
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn rates_parse_to_intervals() {
        assert_eq!(parse_rate("50/s").unwrap(), S / 50);
        assert_eq!(parse_rate("600/min").unwrap(), S / 10);
        assert_eq!(parse_rate(" 2 / h ").unwrap(), 1_800 * S);
        for bad in ["50", "0/s", "x/s", "5/week", "2000000000/s"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_burst_passes_at_once_then_the_rate_holds() {
        let l = limiter("10/s", 5, 0, None);
        let t0 = 1_000 * S;
        for _ in 0..5 {
            assert_eq!(l.check("ci", "m", 1, t0), Verdict::Pass);
        }
        match l.check("ci", "m", 1, t0) {
            Verdict::OverRate(d) => assert_eq!(d, Duration::from_millis(100)),
            other => panic!("{other:?}"),
        }
        // Other principals and models have their own budget.
        assert_eq!(l.check("ops", "m", 1, t0), Verdict::Pass);
        assert_eq!(l.check("ci", "other", 1, t0), Verdict::Pass);
        // One interval later, one more.
        assert_eq!(l.check("ci", "m", 1, t0 + S / 10), Verdict::Pass);
        assert!(matches!(
            l.check("ci", "m", 1, t0 + S / 10),
            Verdict::OverRate(_)
        ));
        // A batch costs its rows.
        let t1 = t0 + 10 * S;
        assert_eq!(l.check("ci", "m", 5, t1), Verdict::Pass);
        assert!(matches!(l.check("ci", "m", 1, t1), Verdict::OverRate(_)));
        assert_eq!(
            l.check("ci", "m", 6, t1 + 100 * S),
            Verdict::BatchOverBurst { burst: 5 }
        );
    }

    #[test]
    fn a_request_just_over_waits_instead_of_failing() {
        let l = limiter("10/s", 2, 250, None);
        let t0 = 1_000 * S;
        assert_eq!(l.check("ci", "m", 1, t0), Verdict::Pass);
        assert_eq!(l.check("ci", "m", 1, t0), Verdict::Pass);
        assert_eq!(
            l.check("ci", "m", 1, t0),
            Verdict::Wait(Duration::from_millis(100))
        );
        assert_eq!(
            l.check("ci", "m", 1, t0),
            Verdict::Wait(Duration::from_millis(200))
        );
        assert!(matches!(l.check("ci", "m", 1, t0), Verdict::OverRate(_)));
    }

    #[test]
    fn the_daily_quota_counts_rows_and_resets_at_midnight_utc() {
        let l = limiter("1000/s", 1000, 0, Some(10));
        let day = 86_400 * S;
        let t0 = 20_000 * day + 3_600 * S;
        assert_eq!(l.check("ci", "m", 6, t0), Verdict::Pass);
        match l.check("ci", "m", 5, t0 + S) {
            Verdict::OverQuota(d) => assert_eq!(d, Duration::from_secs(86_400 - 3_601)),
            other => panic!("{other:?}"),
        }
        assert_eq!(l.check("ci", "m", 4, t0 + S), Verdict::Pass);
        assert_eq!(l.check("ci", "m", 10, t0 + day), Verdict::Pass);
    }

    #[test]
    fn exact_under_concurrency() {
        let l = std::sync::Arc::new(limiter("1/s", 100, 0, None));
        let t0 = 1_000 * S;
        let passed = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        if l.check("ci", "m", 1, t0) == Verdict::Pass {
                            passed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(passed.into_inner(), 100);
    }

    #[derive(Debug)]
    struct Down;

    impl RateStore for Down {
        fn gcra(&self, _: &str, _: u64, _: u64, _: u64, _: u64) -> Result<Step, StoreError> {
            Err(StoreError("connection refused".into()))
        }
        fn charge_daily(&self, _: &str, _: u64, _: u64, _: u64) -> Result<bool, StoreError> {
            Err(StoreError("connection refused".into()))
        }
    }

    #[test]
    fn a_failed_store_fails_closed_unless_said_otherwise() {
        let mut config = LimitsConfig {
            rate: "10/s".into(),
            burst: 1,
            delay_ms: 0,
            daily_quota: Some(5),
            fail_open: false,
            store: None,
        };
        let closed = Limiter::new(&config, Box::new(Down)).unwrap();
        assert_eq!(closed.check("ci", "m", 1, 0), Verdict::StoreDown);
        config.fail_open = true;
        let open = Limiter::new(&config, Box::new(Down)).unwrap();
        assert_eq!(open.check("ci", "m", 1, 0), Verdict::Pass);
    }
}
