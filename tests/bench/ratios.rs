//! keyward's hot paths as a share of the reference verify (`reference`), measured in the same
//! run: the reference is loaded just before keyward's first wrk run and again just after its
//! last, and keyward is compared with the mean of the two, so drift over the run (other load,
//! CPU steal) weighs on both sides alike.

use crate::report::{per_sec, print_columns};
use crate::wrk::WrkRun;

/// keyward's throughput as a share of the reference's, per measure.
const TARGET_CHECK: f64 = 0.75;
const TARGET_ADMISSION: f64 = 0.65;
const TARGET_USAGE: f64 = 0.35;

/// The reference's two runs, around keyward's.
pub struct ReferenceRuns {
    pub before: WrkRun,
    pub after: WrkRun,
}

impl ReferenceRuns {
    pub fn mean_rps(&self) -> f64 {
        (self.before.rps + self.after.rps) / 2.0
    }
}

pub struct HotPaths<'a> {
    pub verify_check: &'a WrkRun,
    pub verify_admit: &'a WrkRun,
    pub usage: &'a WrkRun,
}

pub fn print_ratios(reference: &ReferenceRuns, keyward: &HotPaths<'_>) {
    let reference_rps = reference.mean_rps();
    println!();
    println!(
        "keyward / reference verify (same run; reference {} before and {} after keyward's runs, mean {}, p99 {:.2} / {:.2} ms)",
        per_sec(reference.before.rps),
        per_sec(reference.after.rps),
        per_sec(reference_rps),
        reference.before.p99_ms,
        reference.after.p99_ms,
    );
    let mut rows: Vec<[String; 5]> = vec![[
        "measure".into(),
        "keyward".into(),
        "ratio".into(),
        "target".into(),
        "met".into(),
    ]];
    for (measure, run, target) in [
        ("verify, check only", keyward.verify_check, TARGET_CHECK),
        (
            "verify, admission + window",
            keyward.verify_admit,
            TARGET_ADMISSION,
        ),
        ("record usage", keyward.usage, TARGET_USAGE),
    ] {
        let ratio = if reference_rps > 0.0 {
            run.rps / reference_rps
        } else {
            f64::NAN
        };
        let refused = run.non_2xx + reference.before.non_2xx + reference.after.non_2xx;
        let verdict = if refused > 0 {
            format!("invalid: {refused} non-2xx")
        } else if ratio >= target {
            "met".to_string()
        } else {
            "not met".to_string()
        };
        rows.push([
            measure.into(),
            per_sec(run.rps),
            format!("{ratio:.2}"),
            format!("≥ {target:.2}"),
            verdict,
        ]);
    }
    print_columns(&rows, 1..=2);
}
