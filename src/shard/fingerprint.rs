//! A run's fingerprint: what must be equal for shard reports to be parts of
//! one run. A hash, not a signature: it catches mixed-up artifacts, not forgery.

use crate::report::Report;

/// The fingerprint of a check's report: the suite, the server's major
/// version, the cases and seed, and the schema as the report describes it
/// (every relation's posture: kind, ownership, RLS, privileges, policies).
pub fn fingerprint(report: &Report, major_version: i32, seed: u64) -> String {
    let posture = serde_json::to_string(&report.posture).unwrap_or_default();
    let text = format!(
        "suite={}\npg={major_version}\ncases={}\nseed={seed}\nposture={posture}",
        report.suite, report.stats.cases
    );
    format!("{:016x}", fnv1a(text.as_bytes()))
}

/// 64-bit FNV-1a: stable across platforms and Rust versions, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    #[test]
    fn fnv1a_matches_the_reference_values() {
        assert_eq!(super::fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
