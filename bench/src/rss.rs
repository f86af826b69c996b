//! The peak RSS diagnostic: the token function's warm workload replayed on a
//! fresh sandbox, as deployed and with a glibc tunable.

use crate::checks::{code_from, expect_token, form_tx};
use crate::config::Cfg;
use crate::lab::Lab;
use crate::sandbox::Warm;
use crate::{R, log, procfs};
use std::collections::HashMap;

/// VmHWM (KiB) of the replayed token workload after each of its phases.
pub struct RssDiag {
    pub variant: &'static str,
    pub hwm_after_cc_kib: u64,
    pub hwm_after_password_kib: u64,
    pub hwm_kib: u64,
    pub rss_end_kib: u64,
}

/// The token function's mixed workload (client_credentials, password, code
/// exchange) replayed on a fresh sandbox, as deployed and with glibc's mmap
/// threshold fixed, to show how much of its peak RSS is heap fragmentation
/// around Argon2's 19 MiB block.
pub async fn rss_diagnostic(
    cfg: &Cfg,
    lab: &Lab,
    helpers: &HashMap<&'static str, Warm>,
) -> R<Vec<RssDiag>> {
    let variants: [(&'static str, &[(&str, &str)]); 2] = [
        ("as deployed (glibc malloc defaults)", &[]),
        (
            "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1048576",
            &[("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=1048576")],
        ),
    ];
    let (auth, cb) = (&helpers["authorize"], &helpers["callback"]);
    let mut out = Vec::new();
    for (name, env) in variants {
        log(format!("peak RSS diagnostic: token, {name}"));
        let tok = Warm::start_with(cfg, "token", env, "token.rss.log", None).await?;
        let code = async |i: usize| -> R<String> {
            let page = auth.call(&lab.authorize(&format!("r{i}"))).await?.0;
            code_from(&cb.call(&lab.callback(&form_tx(&page)?)).await?.0)
        };
        // The warm phase's order: a short warm-up, a long run of
        // client_credentials, then password grants, then code exchanges.
        let cc = async || -> R<()> {
            expect_token(
                &tok.call(&lab.client_credentials()).await?.0,
                "client_credentials",
                false,
            )
            .map(drop)
        };
        let pw = async || -> R<()> {
            expect_token(&tok.call(&lab.password()).await?.0, "password", true).map(drop)
        };
        let ex = async |i: usize| -> R<()> {
            let c = code(i).await?;
            expect_token(
                &tok.call(&lab.code(&c)).await?.0,
                "authorization_code",
                true,
            )
            .map(drop)
        };
        let hwm = || procfs::status_kib(&tok.pid(), "VmHWM").unwrap_or(0);
        for i in 0..2 {
            cc().await?;
            ex(i).await?;
            pw().await?;
        }
        for _ in 0..3 + cfg.n(2000) {
            cc().await?;
        }
        let after_cc = hwm();
        for _ in 0..cfg.n(40) {
            pw().await?;
        }
        let after_pw = hwm();
        for i in 0..cfg.n(60) {
            ex(100 + i).await?;
        }
        out.push(RssDiag {
            variant: name,
            hwm_after_cc_kib: after_cc,
            hwm_after_password_kib: after_pw,
            hwm_kib: hwm(),
            rss_end_kib: procfs::status_kib(&tok.pid(), "VmRSS").unwrap_or(0),
        });
        tok.stop().await;
    }
    Ok(out)
}
