//! The memory sweep: every function and the floor at every size of
//! `lambda_cpu::SWEEP_MB`, Lambda's CPU share emulated.

use crate::checks::{
    code_from, expect, expect_active, expect_changed, expect_token, expect_userinfo, form_tx, s,
};
use crate::config::Cfg;
use crate::event::{HttpRequest, HttpResponse};
use crate::lab::Lab;
use crate::sandbox::{Meter, Warm};
use crate::warm::Tokens;
use crate::{FLOOR, FUNCTIONS, R, lambda_cpu, log};
use std::collections::HashMap;

/// One function at one memory size, Lambda's CPU share emulated.
pub struct SweepRow {
    pub function: &'static str,
    pub memory_mb: u32,
    pub init_us: Vec<u64>,
    pub cold_us: Vec<u64>,
    pub warm_us: Vec<u64>,
    pub cpu_ticks: u64,
}

/// The request the sweep sends `f` (fresh state where a request consumes it).
async fn sweep_request(
    f: &str,
    i: usize,
    lab: &mut Lab,
    helpers: &HashMap<&'static str, Warm>,
    rt: &str,
    at: &str,
) -> R<HttpRequest> {
    Ok(match f {
        "authorize" => lab.authorize(&format!("sw{i}")),
        "callback" => {
            let page = helpers["authorize"]
                .call(&lab.authorize(&format!("sw{i}")))
                .await?
                .0;
            lab.callback(&form_tx(&page)?)
        }
        "token" => lab.client_credentials(),
        "refresh" => lab.refresh(rt),
        "change-password" => lab.change_password(),
        "introspect" => lab.introspect(at),
        "revoke" => {
            let v = expect_token(
                &helpers["token"].call(&lab.client_credentials()).await?.0,
                "client_credentials",
                false,
            )?;
            lab.revoke(&s(&v, "access_token")?)
        }
        "userinfo" => lab.userinfo(at),
        _ => lab.discovery(),
    })
}

fn sweep_check(f: &str, r: &HttpResponse, rt: &mut String) -> R<()> {
    match f {
        "authorize" => {
            expect(r, 200, f)?;
            form_tx(r).map(|_| ())
        }
        "callback" => code_from(r).map(|_| ()),
        "token" => expect_token(r, f, false).map(|_| ()),
        "refresh" => {
            *rt = s(&expect_token(r, f, true)?, "refresh_token")?;
            Ok(())
        }
        "change-password" => expect_changed(r),
        "introspect" => expect_active(r, f).map(|_| ()),
        "userinfo" => expect_userinfo(r),
        _ => expect(r, 200, f),
    }
}

/// Functions whose every request checks a password (2 for change-password).
fn checks_passwords(f: &str) -> bool {
    matches!(f, "callback" | "change-password")
}

/// Warm requests the sweep sends one function at one size.
fn sweep_warm_n(cfg: &Cfg, f: &str) -> usize {
    if checks_passwords(f) {
        cfg.sweep_warm.min(5)
    } else {
        cfg.sweep_warm
    }
}

/// Every function and the floor at every size of `SWEEP_MB`: `sweep_starts`
/// cold starts (init unthrottled, then the first request at the size's CPU
/// share), then `sweep_warm` warm requests on the last sandbox.
pub async fn sweep_phase(
    cfg: &Cfg,
    lab: &mut Lab,
    helpers: &HashMap<&'static str, Warm>,
    tokens: &mut Tokens,
) -> R<Vec<SweepRow>> {
    let mut rows = Vec::new();
    if cfg.sweep_starts == 0 || cfg.no_throttle.is_some() {
        return Ok(rows);
    }
    for f in FUNCTIONS.into_iter().chain([FLOOR]) {
        log(format!(
            "memory sweep: {f} at {:?} MB, {} starts, {} warm",
            lambda_cpu::SWEEP_MB,
            cfg.sweep_starts,
            sweep_warm_n(cfg, f)
        ));
        for mem in lambda_cpu::SWEEP_MB {
            let mut row = SweepRow {
                function: f,
                memory_mb: mem,
                init_us: vec![],
                cold_us: vec![],
                warm_us: vec![],
                cpu_ticks: 0,
            };
            for start in 0..cfg.sweep_starts {
                let w = Warm::start_with(cfg, f, &[], &format!("{f}.sweep.log"), Some(mem)).await?;
                let req =
                    sweep_request(f, start, lab, helpers, &tokens.refresh, &tokens.access).await?;
                let (r, first, _) = w.call_first(&req).await?;
                sweep_check(f, &r, &mut tokens.refresh)?;
                row.init_us.push(w.init.as_micros() as u64);
                row.cold_us.push(first.as_micros() as u64);
                if start + 1 == cfg.sweep_starts {
                    let mut m = Meter::start(&w);
                    for i in 0..sweep_warm_n(cfg, f) {
                        let req = sweep_request(
                            f,
                            1000 + i,
                            lab,
                            helpers,
                            &tokens.refresh,
                            &tokens.access,
                        )
                        .await?;
                        let (r, d) = w.call(&req).await?;
                        sweep_check(f, &r, &mut tokens.refresh)?;
                        m.add(d);
                    }
                    let series = m.finish("sweep");
                    row.warm_us = series.samples_us;
                    row.cpu_ticks = series.cpu_ticks;
                }
                w.stop().await;
            }
            rows.push(row);
        }
    }
    Ok(rows)
}
