//! `authbulk sim`: flags of the simulated tenant, validated into [`crate::sim::SimConfig`]; then
//! the simulator is served until Ctrl-C, printing what a client needs to reach it.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use crate::Outcome;
use crate::sim::{AppliedTimeouts, FaultRates, QrPinPolicy, SimConfig, TapPolicy, TenantSize};

/// Flags of `authbulk sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Number of generated users.
    #[arg(long, default_value_t = 1000)]
    pub users: usize,
    /// Seed of the generated tenant (users, methods, groups, ids, credentials).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Throttling preset (default: from --users: <50 small, 50-500 medium, >500 large).
    #[arg(long, value_enum)]
    pub tenant_size: Option<SizeArg>,
    /// Resource units per 10 s per app+tenant (overrides the preset).
    #[arg(long)]
    pub ru_per_10s: Option<f64>,
    /// Writes per 150 s per app+tenant (default 3000).
    #[arg(long)]
    pub writes_per_150s: Option<f64>,
    /// Writes per 5 min for the whole tenant, all apps (default 18000).
    #[arg(long)]
    pub tenant_writes_per_5min: Option<f64>,
    /// HTTP requests per 10 s for the app, a $batch counting once (default 130000).
    #[arg(long)]
    pub app_requests_per_10s: Option<f64>,
    /// Never throttle.
    #[arg(long)]
    pub unthrottled: bool,
    /// Share (0 to 1) of the tenant-wide write budget eaten by other apps.
    #[arg(long, default_value_t = 0.0)]
    pub background_load: f64,
    /// Latency added to every call, e.g. `20..80` (ms) or `20ms..1.5s`.
    #[arg(long, value_parser = parse_latency)]
    pub latency: Option<(Duration, Duration)>,
    /// Fault rates, e.g. `503=0.02,504=0.01,reset=0.005`.
    #[arg(long, value_parser = parse_faults)]
    pub fail_rate: Option<FaultRates>,
    /// Rates of writes that are applied and then answered 504 (a gateway timeout after the
    /// change), e.g. `item=0.02,batch=0.01`: `item` for a single write or a `$batch` item,
    /// `batch` for a whole `$batch` whose items all ran.
    #[arg(long, value_parser = parse_applied_timeouts)]
    pub applied_timeout_rate: Option<AppliedTimeouts>,
    /// Lifetime of issued access tokens, seconds.
    #[arg(long, default_value_t = 3599)]
    pub token_ttl: u64,
    /// Withhold an application permission (repeatable), e.g. `UserAuthenticationMethod.ReadWrite.All`.
    #[arg(long)]
    pub deny: Vec<String>,
    /// Refuse (403 Authorization_RequestDenied) the calls that need this application permission
    /// although tokens still claim it (repeatable): consent withdrawn after the token was issued.
    #[arg(long, value_name = "PERMISSION")]
    pub refuse: Vec<String>,
    /// Serve N tenants (for `run --tenants`): tenant k is generated from seed S+k, with its own
    /// users, app registration (tenant id, client id, secret) and throttle buckets per app and
    /// tenant; GET /_sim/tenants lists their credentials, /_sim/tenants/{tenant id}/... is each
    /// one's introspection (/_sim/... is the first's).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub tenants: u16,
    /// A PEM certificate the app registration trusts for client assertions (repeatable).
    #[arg(long)]
    pub certificate: Vec<PathBuf>,
    /// Temporary access pass policy: shortest lifetime, minutes.
    #[arg(long, default_value_t = 60)]
    pub tap_min_minutes: u32,
    /// Temporary access pass policy: longest lifetime, minutes.
    #[arg(long, default_value_t = 480)]
    pub tap_max_minutes: u32,
    /// Temporary access pass policy: default lifetime, minutes.
    #[arg(long, default_value_t = 60)]
    pub tap_default_minutes: u32,
    /// Temporary access pass policy: every pass is one-time use.
    #[arg(long)]
    pub tap_usable_once: bool,
    /// Temporary access pass policy: the method is disabled (`state` "disabled"): every pass
    /// create is refused.
    #[arg(long)]
    pub tap_disabled: bool,
    /// Temporary access pass policy: length of a pass (8 to 48 characters).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(8..=48))]
    pub tap_length: u32,
    /// The authentication methods policy disables SMS sign-in: mobiles show
    /// `notAllowedByPolicy` and enableSmsSignIn is refused.
    #[arg(long)]
    pub no_sms_sign_in: bool,
    /// Share (0 to 1) of Windows Hello deletes refused with "MFA is required for a 'RemoveKey'
    /// operation".
    #[arg(long, default_value_t = 0.0)]
    pub hello_refusal_rate: f64,
    /// The tenant has no Entra ID P1/P2 licence: the registration report answers 403.
    #[arg(long)]
    pub no_premium: bool,
    /// An extra group with this display name (repeatable; two of one name make a name that
    /// `--group NAME` cannot resolve); its direct members are users 0 to 9.
    #[arg(long, value_name = "NAME")]
    pub extra_group: Vec<String>,
    /// Write the tenant as JSON to this file at exit.
    #[arg(long)]
    pub state_out: Option<PathBuf>,
    /// QR code PIN policy: `pinLength`, the least number of digits of a PIN (8 to 20).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(8..=20))]
    pub qr_pin_length: u32,
    /// QR code PIN policy: `standardQRCodeLifetimeInDays` (1 to 395).
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=395))]
    pub qr_lifetime_days: u32,
}

/// `--tenant-size` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SizeArg {
    /// 3,500 resource units per 10 s.
    Small,
    /// 5,000 resource units per 10 s.
    Medium,
    /// 8,000 resource units per 10 s.
    Large,
}

/// A duration: a number of milliseconds, or with a unit (`ms`, `s`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 0.001)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (e.g. 20, 20ms, 1.5s)"))?;
    if !(value.is_finite() && value >= 0.0) {
        return Err(format!("'{s}' is not a duration (e.g. 20, 20ms, 1.5s)"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

fn parse_latency(s: &str) -> Result<(Duration, Duration), String> {
    let (min, max) = s
        .split_once("..")
        .ok_or_else(|| format!("'{s}' is not a range MIN..MAX (e.g. 20..80)"))?;
    let (min, max) = (parse_duration(min)?, parse_duration(max)?);
    if max < min {
        return Err(format!("'{s}': the maximum is below the minimum"));
    }
    Ok((min, max))
}

fn parse_applied_timeouts(s: &str) -> Result<AppliedTimeouts, String> {
    let mut rates = AppliedTimeouts::default();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (kind, rate) = part
            .split_once('=')
            .ok_or_else(|| format!("'{part}' is not KIND=RATE (e.g. item=0.02)"))?;
        let rate: f64 = rate
            .trim()
            .parse()
            .ok()
            .filter(|r: &f64| (0.0..=1.0).contains(r))
            .ok_or_else(|| format!("'{part}': the rate must be a number from 0 to 1"))?;
        match kind.trim() {
            "item" => rates.item = rate,
            "batch" => rates.batch = rate,
            other => return Err(format!("unknown kind '{other}' (item, batch)")),
        }
    }
    Ok(rates)
}

fn parse_faults(s: &str) -> Result<FaultRates, String> {
    let mut rates = FaultRates::default();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (kind, rate) = part
            .split_once('=')
            .ok_or_else(|| format!("'{part}' is not KIND=RATE (e.g. 503=0.02)"))?;
        let rate: f64 = rate
            .trim()
            .parse()
            .ok()
            .filter(|r: &f64| (0.0..=1.0).contains(r))
            .ok_or_else(|| format!("'{part}': the rate must be a number from 0 to 1"))?;
        match kind.trim() {
            "503" => rates.unavailable = rate,
            "504" => rates.gateway_timeout = rate,
            "reset" => rates.reset = rate,
            other => return Err(format!("unknown fault '{other}' (503, 504, reset)")),
        }
    }
    if rates.unavailable + rates.gateway_timeout + rates.reset > 1.0 {
        return Err("the fault rates add up to more than 1".to_string());
    }
    Ok(rates)
}

impl SimArgs {
    /// Validate the flags into the simulator's config.
    pub fn config(&self) -> anyhow::Result<SimConfig> {
        if !(0.0..=1.0).contains(&self.background_load) {
            bail!("--background-load must be from 0 to 1");
        }
        if !(0.0..=1.0).contains(&self.hello_refusal_rate) {
            bail!("--hello-refusal-rate must be from 0 to 1");
        }
        for (flag, value) in [
            ("--ru-per-10s", self.ru_per_10s),
            ("--writes-per-150s", self.writes_per_150s),
            ("--tenant-writes-per-5min", self.tenant_writes_per_5min),
            ("--app-requests-per-10s", self.app_requests_per_10s),
        ] {
            if value.is_some_and(|v| !(v.is_finite() && v > 0.0)) {
                bail!("{flag} must be a positive number");
            }
        }
        let (min, max, default) = (
            self.tap_min_minutes,
            self.tap_max_minutes,
            self.tap_default_minutes,
        );
        if !(min <= default && default <= max) {
            bail!(
                "the TAP policy needs --tap-min-minutes <= --tap-default-minutes <= --tap-max-minutes"
            );
        }
        let mut certificates = Vec::new();
        for path in &self.certificate {
            certificates.push(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading --certificate {}", path.display()))?,
            );
        }
        Ok(SimConfig {
            users: self.users,
            seed: self.seed,
            listen: self.listen,
            tenant_size: match self.tenant_size {
                Some(SizeArg::Small) => TenantSize::Small,
                Some(SizeArg::Medium) => TenantSize::Medium,
                Some(SizeArg::Large) => TenantSize::Large,
                None => TenantSize::for_users(self.users),
            },
            ru_per_10s: self.ru_per_10s,
            writes_per_150s: self.writes_per_150s,
            tenant_writes_per_5min: self.tenant_writes_per_5min,
            app_requests_per_10s: self.app_requests_per_10s,
            unthrottled: self.unthrottled,
            background_load: self.background_load,
            latency: self.latency,
            faults: self.fail_rate.unwrap_or_default(),
            applied_timeouts: self.applied_timeout_rate.unwrap_or_default(),
            token_ttl: Duration::from_secs(self.token_ttl),
            deny: self.deny.iter().cloned().collect::<BTreeSet<_>>(),
            refuse: self.refuse.iter().cloned().collect::<BTreeSet<_>>(),
            client_certificates: certificates,
            tap_policy: TapPolicy {
                min_minutes: min,
                max_minutes: max,
                default_minutes: default,
                usable_once: self.tap_usable_once,
                length: self.tap_length,
                enabled: !self.tap_disabled,
                ..TapPolicy::default()
            },
            hello_refusal_rate: self.hello_refusal_rate,
            sms_sign_in_allowed: !self.no_sms_sign_in,
            premium: !self.no_premium,
            extra_groups: self.extra_group.clone(),
            state_out: self.state_out.clone(),
            qr_pin_policy: QrPinPolicy {
                pin_length: self.qr_pin_length,
                lifetime_days: self.qr_lifetime_days,
            },
            tenants: usize::from(self.tenants),
        })
    }
}

/// Serve the simulator until Ctrl-C.
pub fn execute(args: SimArgs) -> anyhow::Result<Outcome> {
    let config = args.config()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let handle = crate::sim::start(config).await?;
        println!("authbulk simulator listening");
        println!("  graph root:     {}", handle.url());
        println!("  token endpoint: {}", handle.token_url());
        println!("  tenant id:      {}", handle.tenant_id());
        println!("  client id:      {}", handle.client_id());
        println!("  client secret:  {}", handle.client_secret());
        println!("  introspection:  {}/_sim/", handle.url());
        if handle.tenant_count() > 1 {
            println!(
                "  tenants:        {} (GET {}/_sim/tenants; each one's introspection under {}/_sim/tenants/{{tenant id}}/)",
                handle.tenant_count(),
                handle.url(),
                handle.url()
            );
            for k in 0..handle.tenant_count() {
                if let Some(t) = handle.tenant(k) {
                    println!(
                        "    {}  client id {}  client secret {}",
                        t.tenant_id(),
                        t.client_id(),
                        t.client_secret()
                    );
                }
            }
        }
        println!("  groups:");
        if let Some(groups) = handle.groups().as_array() {
            for g in groups {
                println!(
                    "    {}  {} ({} direct users, {} transitive)",
                    g["id"].as_str().unwrap_or(""),
                    g["displayName"].as_str().unwrap_or(""),
                    g["directUsers"],
                    g["transitiveUsers"],
                );
            }
        }
        println!("Press Ctrl-C to stop.");
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        handle.shutdown()?;
        Ok(Outcome::Success)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_rates_parse_per_kind_and_reject_unknown_kinds() {
        let r = parse_faults("503=0.02,504=0.01,reset=0.005").unwrap();
        assert_eq!(
            (r.unavailable, r.gateway_timeout, r.reset),
            (0.02, 0.01, 0.005)
        );
        assert!(parse_faults("500=0.1").is_err());
        assert!(parse_faults("503=2").is_err());
    }

    #[test]
    fn applied_timeout_rates_parse_per_kind() {
        let r = parse_applied_timeouts("item=0.02,batch=0.5").unwrap();
        assert_eq!((r.item, r.batch), (0.02, 0.5));
        assert!(parse_applied_timeouts("envelope=0.1").is_err());
        assert!(parse_applied_timeouts("item=1.5").is_err());
    }

    #[test]
    fn latency_ranges_take_milliseconds_or_units() {
        assert_eq!(
            parse_latency("20..80").unwrap(),
            (Duration::from_millis(20), Duration::from_millis(80))
        );
        assert_eq!(
            parse_latency("5ms..1.5s").unwrap(),
            (Duration::from_millis(5), Duration::from_millis(1500))
        );
        assert!(parse_latency("80..20").is_err());
    }
}
