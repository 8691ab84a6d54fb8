//! Sharding a check across CI machines: `rowfence check --shard K/N` probes
//! a deterministic part of the relations ([`partition`]), records which in
//! its report ([`ShardInfo`]), and `rowfence merge` ([`merge`]) combines the
//! N reports into the report one unsharded run would have written.

mod fingerprint;
pub mod merge;
pub mod partition;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use fingerprint::fingerprint;
pub use merge::{MergeError, merge};
pub use partition::{Partition, partition};

/// Shard `index` of `count` (1-based, as CI matrices count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard, 1..=count.
    pub index: u32,
    /// How many shards the relations are split into.
    pub count: u32,
}

/// Why a `K/N` shard is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// Not two numbers around a slash.
    #[error("shard `{0}`: expected K/N, e.g. 2/4 (the 2nd of 4 shards)")]
    Syntax(String),
    /// K outside 1..=N, or N zero.
    #[error("shard `{0}`: K must be between 1 and N (shards count from 1)")]
    OutOfRange(String),
}

impl Shard {
    /// Shard `index` of `count`, checked.
    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 || index == 0 || index > count {
            return Err(ShardError::OutOfRange(format!("{index}/{count}")));
        }
        Ok(Shard { index, count })
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(s.to_string());
        let (k, n) = s.trim().split_once('/').ok_or_else(syntax)?;
        let (k, n) = (k.trim().parse::<u32>().map_err(|_| syntax())?, n.trim().parse::<u32>().map_err(|_| syntax())?);
        Shard::new(k, n).map_err(|_| ShardError::OutOfRange(s.to_string()))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What a shard's report says about its part, so `merge` can put the parts
/// together and refuse parts of different runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// This shard, 1..=count.
    pub index: u32,
    /// How many shards the run was split into.
    pub count: u32,
    /// The relations this shard owns (probed here, or nothing to probe);
    /// the shards' lists are disjoint and together name every relation.
    pub relations: Vec<String>,
    /// Suite, schema, server major version, cases and seed, hashed: shards
    /// of one run have the same.
    pub fingerprint: String,
}

impl ShardInfo {
    /// What the report of `part`'s run records: its relations, and the
    /// run's fingerprint (see [`fingerprint`]).
    pub fn new(part: Partition, report: &crate::report::Report, major_version: i32, seed: u64) -> ShardInfo {
        ShardInfo {
            index: part.shard.index,
            count: part.shard.count,
            relations: part.names,
            fingerprint: fingerprint(report, major_version, seed),
        }
    }

    /// The shard as `K/N`.
    pub fn shard(&self) -> Shard {
        Shard { index: self.index, count: self.count }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_count_from_one_up_to_n() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        assert_eq!(" 1 / 1 ".parse::<Shard>(), Ok(Shard { index: 1, count: 1 }));
        for bad in ["0/3", "4/3", "1/0"] {
            assert_eq!(bad.parse::<Shard>(), Err(ShardError::OutOfRange(bad.into())), "{bad}");
        }
        for bad in ["3", "a/3", "1/3/4", "-1/3", ""] {
            assert!(matches!(bad.parse::<Shard>(), Err(ShardError::Syntax(_))), "{bad}");
        }
        assert!(ShardError::OutOfRange("4/3".into()).to_string().contains("between 1 and N"));
    }
}
