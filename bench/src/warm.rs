//! The warm pass: every function's series of sequential requests on one warm
//! sandbox each.

use crate::checks::{
    code_from, expect, expect_active, expect_changed, expect_token, expect_userinfo, form_tx,
    jwt_claim, s,
};
use crate::config::Cfg;
use crate::lab::Lab;
use crate::sandbox::{Meter, Series, Warm};
use crate::{FLOOR, FUNCTIONS, R, log, procfs};
use std::collections::HashMap;
use std::time::Duration;

pub const FLOOR_SERIES: &str = "floor (constant body)";
pub const INTROSPECT_SERIES: &str = "introspect (active user token)";
pub const INTROSPECT_WRITE_SERIES: &str = "introspect, first use in a minute (sliding write)";

pub struct WarmResult {
    pub series: Vec<Series>,
    /// Peak RSS (VmHWM, KiB) of each function's warm sandbox at the end.
    pub peak_rss_kib: HashMap<&'static str, u64>,
}

/// What the cold phase needs from the warm one: a live refresh token and a
/// user access token (`openid`, with a session) for introspection and userinfo.
pub struct Tokens {
    pub refresh: String,
    pub access: String,
}

/// The warm series of every function and of the floor; with `emulate`, each
/// sandbox runs at its configured memory's CPU share after init.
pub async fn warm_phase(
    cfg: &Cfg,
    lab: &mut Lab,
    emulate: bool,
) -> R<(WarmResult, HashMap<&'static str, Warm>, Tokens)> {
    let mut w: HashMap<&'static str, Warm> = HashMap::new();
    for f in FUNCTIONS.into_iter().chain([FLOOR]) {
        w.insert(f, Warm::start(cfg, f, cfg.throttle_for(f, emulate)).await?);
    }
    let (auth, cb, tok, rf, cp, disc) = (
        &w["authorize"],
        &w["callback"],
        &w["token"],
        &w["refresh"],
        &w["change-password"],
        &w["discovery"],
    );
    let (intro, rev, ui) = (&w["introspect"], &w["revoke"], &w["userinfo"]);

    // Warm-up: every code path once or a few times (fills the caches, as a
    // sandbox that has served a few requests has them).
    log("warm-up");
    let mut rt = String::new();
    for i in 0..5 {
        expect(&disc.call(&lab.discovery()).await?.0, 200, "discovery")?;
        let page = auth.call(&lab.authorize(&format!("w{i}"))).await?.0;
        expect(&page, 200, "authorize")?;
        expect_token(
            &tok.call(&lab.client_credentials()).await?.0,
            "client_credentials",
            false,
        )?;
        if i < 2 {
            let code = code_from(&cb.call(&lab.callback(&form_tx(&page)?)).await?.0)?;
            expect_token(
                &tok.call(&lab.code(&code)).await?.0,
                "authorization_code",
                true,
            )?;
            let v = expect_token(&tok.call(&lab.password()).await?.0, "password", true)?;
            rt = s(&v, "refresh_token")?;
            expect_changed(&cp.call(&lab.change_password()).await?.0)?;
        }
        let v = expect_token(&rf.call(&lab.refresh(&rt)).await?.0, "refresh", true)?;
        rt = s(&v, "refresh_token")?;
    }
    // The user token a resource server checks: a password grant with `openid`,
    // so userinfo answers too; it names its session (`sid`).
    let v = expect_token(
        &tok.call(&lab.password_openid()).await?.0,
        "password (openid)",
        true,
    )?;
    let at = s(&v, "access_token")?;
    let mut user_rt = s(&v, "refresh_token")?;
    for _ in 0..5 {
        expect_active(&intro.call(&lab.introspect(&at)).await?.0, "introspect")?;
        expect_userinfo(&ui.call(&lab.userinfo(&at)).await?.0)?;
        let cc = expect_token(
            &tok.call(&lab.client_credentials()).await?.0,
            "client_credentials",
            false,
        )?;
        let r = rev.call(&lab.revoke(&s(&cc, "access_token")?)).await?.0;
        expect(&r, 200, "revoke")?;
    }

    let mut series = Vec::new();
    let floor = &w[FLOOR];
    log("warm latency: floor");
    for _ in 0..5 {
        expect(&floor.call(&lab.discovery()).await?.0, 200, "floor")?;
    }
    let mut m = Meter::start(floor);
    for _ in 0..cfg.n(2000) {
        let (r, d) = floor.call(&lab.discovery()).await?;
        expect(&r, 200, "floor")?;
        m.add(d);
    }
    series.push(m.finish(FLOOR_SERIES));

    log("warm latency: discovery");
    let mut m = Meter::start(disc);
    for _ in 0..cfg.n(500) {
        let (r, d) = disc.call(&lab.discovery()).await?;
        expect(&r, 200, "discovery")?;
        m.add(d);
    }
    series.push(m.finish("discovery metadata"));

    log("warm latency: authorize page");
    let mut m = Meter::start(auth);
    for i in 0..cfg.n(300) {
        let (r, d) = auth.call(&lab.authorize(&format!("s{i}"))).await?;
        expect(&r, 200, "authorize")?;
        form_tx(&r)?;
        m.add(d);
    }
    series.push(m.finish("authorize page"));

    log("warm latency: client_credentials");
    let mut m = Meter::start(tok);
    for _ in 0..cfg.n(2000) {
        let (r, d) = tok.call(&lab.client_credentials()).await?;
        expect_token(&r, "client_credentials", false)?;
        m.add(d);
    }
    series.push(m.finish("client_credentials"));

    log("warm latency: refresh_token");
    let mut m = Meter::start(rf);
    for _ in 0..cfg.n(300) {
        let (r, d) = rf.call(&lab.refresh(&rt)).await?;
        rt = s(&expect_token(&r, "refresh", true)?, "refresh_token")?;
        m.add(d);
    }
    series.push(m.finish("refresh_token (refresh)"));

    log("warm latency: password");
    let mut m = Meter::start(tok);
    for _ in 0..cfg.n(40) {
        let (r, d) = tok.call(&lab.password()).await?;
        expect_token(&r, "password", true)?;
        m.add(d);
    }
    series.push(m.finish("password (Argon2id)"));

    log("warm latency: login + authorization_code");
    let mut mc = Meter::start(cb);
    let mut mt = Meter::start(tok);
    for i in 0..cfg.n(60) {
        let page = auth.call(&lab.authorize(&format!("c{i}"))).await?.0;
        let (r, d) = cb.call(&lab.callback(&form_tx(&page)?)).await?;
        let code = code_from(&r)?;
        mc.add(d);
        let (r, d) = tok.call(&lab.code(&code)).await?;
        expect_token(&r, "authorization_code", true)?;
        mt.add(d);
    }
    series.push(mt.finish("authorization_code exchange"));
    series.push(mc.finish("login callback (Argon2id)"));

    log("warm latency: change-password");
    let mut m = Meter::start(cp);
    for _ in 0..cfg.n(30) {
        let (r, d) = cp.call(&lab.change_password()).await?;
        expect_changed(&r)?;
        m.add(d);
    }
    series.push(m.finish("change-password (2x Argon2id)"));

    // A resource server checking one user's access token on every API call: the
    // BatchGetItem (token record, session, user) each time; under sliding expiry
    // the deadline is written at most once a minute, so this series writes once
    // or not at all.
    log("warm latency: introspect (active token)");
    let mut m = Meter::start(intro);
    for _ in 0..cfg.n(1000) {
        let (r, d) = intro.call(&lab.introspect(&at)).await?;
        expect_active(&r, "introspect")?;
        m.add(d);
    }
    series.push(m.finish(INTROSPECT_SERIES));

    // The write path: tokens at least a second old, each introspected once, so
    // each introspection also moves the deadline (one conditional UpdateItem).
    log("warm latency: introspect with the sliding write");
    let mut fresh = Vec::new();
    for _ in 0..cfg.n(60) {
        let v = expect_token(&rf.call(&lab.refresh(&user_rt)).await?.0, "refresh", true)?;
        user_rt = s(&v, "refresh_token")?;
        fresh.push(s(&v, "access_token")?);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut m = Meter::start(intro);
    let mut moved = 0;
    for t in &fresh {
        let (r, d) = intro.call(&lab.introspect(t)).await?;
        let exp = expect_active(&r, "introspect")?;
        if jwt_claim(t, "exp").is_some_and(|jwt_exp| exp > jwt_exp) {
            moved += 1;
        }
        m.add(d);
    }
    if moved < fresh.len() {
        log(format!(
            "warning: only {moved} of {} introspections moved the sliding deadline",
            fresh.len()
        ));
    }
    series.push(m.finish(INTROSPECT_WRITE_SERIES));

    log("warm latency: userinfo");
    let mut m = Meter::start(ui);
    for _ in 0..cfg.n(500) {
        let (r, d) = ui.call(&lab.userinfo(&at)).await?;
        expect_userinfo(&r)?;
        m.add(d);
    }
    series.push(m.finish("userinfo (GET, Bearer)"));

    log("warm latency: revoke");
    let mut doomed = Vec::new();
    for _ in 0..cfg.n(300) {
        let v = expect_token(
            &tok.call(&lab.client_credentials()).await?.0,
            "client_credentials",
            false,
        )?;
        doomed.push(s(&v, "access_token")?);
    }
    let mut m = Meter::start(rev);
    for t in &doomed {
        let (r, d) = rev.call(&lab.revoke(t)).await?;
        expect(&r, 200, "revoke")?;
        m.add(d);
    }
    series.push(m.finish("revoke (access token)"));

    let mut peak = HashMap::new();
    for f in FUNCTIONS.into_iter().chain([FLOOR]) {
        peak.insert(f, procfs::status_kib(&w[f].pid(), "VmHWM").unwrap_or(0));
    }
    Ok((
        WarmResult {
            series,
            peak_rss_kib: peak,
        },
        w,
        Tokens {
            refresh: rt,
            access: at,
        },
    ))
}
