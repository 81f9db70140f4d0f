//! The rate flags of `run` and `export` (DESIGN.md, "Rate"): raw clap flags, validated into the
//! executor's [`ExecConfig`]. Flattened into those commands' argument structs.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use crate::exec::ExecConfig;
use crate::throttle::retry::RetryPolicy;
use crate::throttle::{Budget, BudgetMode, RateConfig, TenantSize};

/// Tenant size class for the default budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TenantSizeArg {
    /// Fewer than 50 users: 3,500 resource units per 10 s.
    Small,
    /// 50 to 500 users: 5,000 resource units per 10 s.
    Medium,
    /// More than 500 users: 8,000 resource units per 10 s.
    Large,
}

/// How budgets are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BudgetArg {
    /// Budgets are caps never exceeded; the engine slows below them on throttle signals.
    Capped,
    /// No client-side caps: start at the budget and follow the service's signals alone.
    Adaptive,
}

/// Rate flags.
#[derive(Debug, Clone, Args)]
pub struct RateFlags {
    /// Tenant size, for the published default budget.
    #[arg(long, value_enum, default_value_t = TenantSizeArg::Large)]
    pub tenant_size: TenantSizeArg,
    /// Resource units per 10 seconds (overrides the tenant size's budget).
    #[arg(long, value_name = "N")]
    pub ru_per_10s: Option<u32>,
    /// Writes per 150 seconds (default 3000, the published app+tenant limit).
    #[arg(long, value_name = "N")]
    pub writes_per_150s: Option<u32>,
    /// Most $batch calls in flight at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub concurrency: usize,
    /// Retries per request after throttling or transient failures.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_retries: u32,
    /// Longest total wait for retries of one request, and longest pause honoured for a whole
    /// `$batch` Retry-After (e.g. 90s, 10m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub max_wait: String,
    /// Budgets as caps (capped), or only the service's signals (adaptive).
    #[arg(long, value_enum, default_value_t = BudgetArg::Capped)]
    pub budget: BudgetArg,
}

impl RateFlags {
    /// Validate into the executor's configuration.
    pub fn to_config(&self) -> anyhow::Result<ExecConfig> {
        let size = match self.tenant_size {
            TenantSizeArg::Small => TenantSize::Small,
            TenantSizeArg::Medium => TenantSize::Medium,
            TenantSizeArg::Large => TenantSize::Large,
        };
        let published = size.published();
        let budget = Budget {
            ru_per_10s: self.ru_per_10s.unwrap_or(published.ru_per_10s),
            writes_per_150s: self.writes_per_150s.unwrap_or(published.writes_per_150s),
        };
        if budget.ru_per_10s == 0 {
            bail!("--ru-per-10s must be at least 1");
        }
        if budget.writes_per_150s == 0 {
            bail!("--writes-per-150s must be at least 1");
        }
        if !(1..=256).contains(&self.concurrency) {
            bail!(
                "--concurrency must be between 1 and 256, not {}",
                self.concurrency
            );
        }
        let max_wait = parse_duration(&self.max_wait)
            .with_context(|| format!("--max-wait {:?}", self.max_wait))?;
        let mode = match self.budget {
            BudgetArg::Capped => BudgetMode::Capped,
            BudgetArg::Adaptive => BudgetMode::Adaptive,
        };
        Ok(ExecConfig {
            rate: RateConfig {
                budget,
                mode,
                start: None,
            },
            retry: RetryPolicy {
                max_retries: self.max_retries,
                max_wait,
            },
            concurrency: self.concurrency,
            ..ExecConfig::default()
        })
    }
}

/// A duration such as `500ms`, `90s`, `10m`, `2h` (a bare number is seconds).
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| anyhow::anyhow!("expected a number with a unit such as 90s, 10m or 1h"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => bail!("unknown unit {other:?}: use ms, s, m or h"),
    };
    if !seconds.is_finite() || seconds > 7.0 * 24.0 * 3600.0 {
        bail!("too long: at most a week");
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        rate: RateFlags,
    }

    fn config(args: &[&str]) -> anyhow::Result<ExecConfig> {
        let mut argv = vec!["probe"];
        argv.extend_from_slice(args);
        Probe::try_parse_from(argv)?.rate.to_config()
    }

    #[test]
    fn defaults_are_the_published_large_tenant_budget_as_caps() {
        let config = config(&[]).unwrap();
        assert_eq!(config.rate.budget, TenantSize::Large.published());
        assert_eq!(config.rate.mode, BudgetMode::Capped);
        assert_eq!(config.retry.max_retries, 8);
        assert_eq!(config.retry.max_wait, Duration::from_secs(600));
    }

    #[test]
    fn flags_override_the_tenant_size_budget() {
        let config = config(&[
            "--tenant-size",
            "small",
            "--writes-per-150s",
            "600",
            "--budget",
            "adaptive",
            "--max-wait",
            "90s",
            "--concurrency",
            "4",
        ])
        .unwrap();
        assert_eq!(config.rate.budget.ru_per_10s, 3_500);
        assert_eq!(config.rate.budget.writes_per_150s, 600);
        assert_eq!(config.rate.mode, BudgetMode::Adaptive);
        assert_eq!(config.retry.max_wait, Duration::from_secs(90));
        assert_eq!(config.concurrency, 4);
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        let err = config(&["--max-wait", "soon"]).unwrap_err();
        assert!(format!("{err:#}").contains("--max-wait"));
        assert!(config(&["--ru-per-10s", "0"]).is_err());
        assert!(config(&["--concurrency", "0"]).is_err());
    }
}
