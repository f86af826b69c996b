//! Cold starts: each a new sandbox, from spawn to its first response, and the
//! diagnostic variants (timing proxies, a one-certificate trust store).

use crate::checks::{
    code_from, expect, expect_active, expect_changed, expect_token, expect_userinfo, form_tx, s,
};
use crate::config::{Cfg, env_num};
use crate::event::{parse_response, url_event};
use crate::lab::Lab;
use crate::runtime::{RuntimeApi, Sandbox};
use crate::sandbox::{CALL_TIMEOUT, Warm};
use crate::warm::Tokens;
use crate::{FLOOR, FUNCTIONS, R, lambda_cpu, log, procfs, proxy};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What a cold first request waited for (diagnostic pass).
pub struct NetSample {
    /// Time with at least one call to DynamoDB Local or moto in flight.
    pub wait_us: u64,
    pub dynamodb_calls: usize,
    pub secrets_calls: usize,
    pub connects: usize,
}

pub struct Cold {
    pub function: &'static str,
    /// A diagnostic variant (changed environment), not the function as deployed.
    pub variant: Option<&'static str>,
    pub request: &'static str,
    pub ready_us: Vec<u64>,
    pub first_response_us: Vec<u64>,
    pub first_duration_us: Vec<u64>,
    pub sockets_at_ready: Vec<usize>,
    pub threads_at_ready: Vec<usize>,
    pub net: Vec<NetSample>,
}

/// A one-certificate trust store (Amazon Root CA 1, or the first certificate of
/// the system bundle) and an empty directory, for the trust-store diagnostic.
fn small_trust_store(cfg: &Cfg) -> Option<(String, String)> {
    let bundle = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").ok()?;
    let certs: Vec<&str> = bundle
        .split_inclusive("-----END CERTIFICATE-----\n")
        .filter(|c| c.contains("BEGIN CERTIFICATE"))
        .collect();
    let amazon = std::fs::read_to_string("/etc/ssl/certs/Amazon_Root_CA_1.pem").ok();
    let pem = amazon.or_else(|| certs.first().map(|c| c.to_string()))?;
    let dir = cfg.log_dir.parent()?.to_path_buf();
    let file = dir.join("one-cert.pem");
    let empty = dir.join("empty-cert-dir");
    std::fs::write(&file, pem).ok()?;
    std::fs::create_dir_all(&empty).ok()?;
    Some((
        file.to_string_lossy().into_owned(),
        empty.to_string_lossy().into_owned(),
    ))
}

/// One series of cold starts: a function as deployed, or a diagnostic variant of it.
struct ColdPlan {
    function: &'static str,
    variant: Option<&'static str>,
    env: Vec<(String, String)>,
    /// Timing proxies in front of DynamoDB Local and moto (the diagnostic pass).
    proxies: Option<(proxy::Proxy, proxy::Proxy)>,
    starts: usize,
}

fn endpoint_addr(var: &str) -> R<std::net::SocketAddr> {
    let url = std::env::var(var).map_err(|_| format!("{var} is not set"))?;
    let hostport = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .replace("localhost", "127.0.0.1");
    hostport.parse().map_err(|e| format!("{var}={url}: {e}"))
}

async fn cold_plans(cfg: &Cfg, diagnostics: bool) -> R<Vec<ColdPlan>> {
    let mut plans: Vec<ColdPlan> = FUNCTIONS
        .iter()
        .chain([&FLOOR])
        .map(|f| ColdPlan {
            function: f,
            variant: None,
            env: vec![],
            proxies: None,
            starts: cfg.cold_starts,
        })
        .collect();
    let diag = env_num("BENCH_DIAG_STARTS", 7usize);
    if diag == 0 || !diagnostics {
        return Ok(plans);
    }
    for f in FUNCTIONS {
        let ddb = proxy::Proxy::start(endpoint_addr("AWS_ENDPOINT_URL_DYNAMODB")?)
            .await
            .map_err(|e| e.to_string())?;
        let sm = proxy::Proxy::start(endpoint_addr("AWS_ENDPOINT_URL_SECRETS_MANAGER")?)
            .await
            .map_err(|e| e.to_string())?;
        plans.push(ColdPlan {
            function: f,
            variant: Some(DIAG_PROXY),
            env: vec![
                (
                    "AWS_ENDPOINT_URL_DYNAMODB".into(),
                    format!("http://{}", ddb.addr),
                ),
                (
                    "AWS_ENDPOINT_URL_SECRETS_MANAGER".into(),
                    format!("http://{}", sm.addr),
                ),
            ],
            proxies: Some((ddb, sm)),
            starts: diag,
        });
    }
    if let Some((file, dir)) = small_trust_store(cfg) {
        plans.push(ColdPlan {
            function: "token",
            variant: Some(DIAG_TRUST),
            env: vec![("SSL_CERT_FILE".into(), file), ("SSL_CERT_DIR".into(), dir)],
            proxies: None,
            starts: cfg.cold_starts,
        });
    }
    Ok(plans)
}

pub const DIAG_PROXY: &str = "through timing proxies in front of DynamoDB Local and moto";
pub const DIAG_TRUST: &str =
    "trust store cut to one certificate (SSL_CERT_FILE, empty SSL_CERT_DIR)";

/// Cold starts of every function and the floor (and, unless `emulate`, the
/// diagnostic variants). With `emulate`, init runs unthrottled and the first
/// invocation at the function's memory's CPU share.
pub async fn cold_phase(
    cfg: &Cfg,
    lab: &mut Lab,
    helpers: &HashMap<&'static str, Warm>,
    tokens: Tokens,
    emulate: bool,
) -> R<(Vec<Cold>, Tokens)> {
    let auth = &helpers["authorize"];
    let tok = &helpers["token"];
    let Tokens {
        refresh: mut rt,
        access: at,
    } = tokens;
    let mut out = Vec::new();
    for plan in cold_plans(cfg, !emulate).await? {
        let f = plan.function;
        log(format!(
            "cold starts: {f} x{}{}",
            plan.starts,
            plan.variant
                .map(|v| format!(" (diagnostic: {v})"))
                .unwrap_or_default()
        ));
        let request = match f {
            "authorize" => "GET authorize page",
            "callback" => "POST login (Argon2id) -> 303 with code",
            "token" => "POST client_credentials",
            "refresh" => "POST refresh_token",
            "change-password" => "POST change password (2x Argon2id)",
            "introspect" => "POST introspect (active user token)",
            "revoke" => "POST revoke (access token)",
            "userinfo" => "GET userinfo (Bearer)",
            FLOOR => "GET (constant body)",
            _ => "GET openid-configuration",
        };
        let throttle = cfg.throttle_for(f, emulate);
        let mem = cfg.memory_of(f).to_string();
        let mut extra_env: Vec<(&str, &str)> = plan
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        extra_env.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", &mem));
        let mut c = Cold {
            function: f,
            variant: plan.variant,
            request,
            ready_us: vec![],
            first_response_us: vec![],
            first_duration_us: vec![],
            sockets_at_ready: vec![],
            threads_at_ready: vec![],
            net: vec![],
        };
        for i in 0..plan.starts {
            let req = match f {
                "authorize" => lab.authorize(&format!("cold{i}")),
                "callback" => {
                    let page = auth.call(&lab.authorize(&format!("cold{i}"))).await?.0;
                    lab.callback(&form_tx(&page)?)
                }
                "token" => lab.client_credentials(),
                "refresh" => lab.refresh(&rt),
                "change-password" => lab.change_password(),
                "introspect" => lab.introspect(&at),
                "revoke" => {
                    let v = expect_token(
                        &tok.call(&lab.client_credentials()).await?.0,
                        "client_credentials",
                        false,
                    )?;
                    lab.revoke(&s(&v, "access_token")?)
                }
                "userinfo" => lab.userinfo(&at),
                _ => lab.discovery(),
            };
            if let Some((d, s)) = &plan.proxies {
                d.take();
                s.take();
            }
            let api = RuntimeApi::start(&format!("tollgate-{f}"))
                .await
                .map_err(|e| e.to_string())?;
            let logf = cfg.log_dir.join(format!("{f}.cold.log"));
            let sb = Sandbox::spawn(&cfg.bin(f), f, &api, &logf, cfg.server_cpu, &extra_env)
                .map_err(|e| format!("cannot start {f}: {e}"))?;
            let spawned = sb.spawned;
            let pid = sb.pid.to_string();
            let Some(ready) = api.first_poll(Duration::from_secs(15)).await else {
                sb.kill().await;
                return Err(format!(
                    "{f}: no GET /next within 15 s (see {}); init errors: {:?}",
                    logf.display(),
                    api.init_errors()
                ));
            };
            // Reading /proc/<pid>/net/tcp costs several ms on a busy machine;
            // the sandbox waits on `GET /next` meanwhile, so that time is taken
            // out of its first response below.
            let sampling = Instant::now();
            c.sockets_at_ready
                .push(procfs::tcp_sockets(&pid).unwrap_or(0));
            c.threads_at_ready.push(procfs::threads(&pid).unwrap_or(0));
            let sampling = sampling.elapsed();
            let group = lambda_cpu::CpuGroup::holding(throttle, sb.pid)?;
            let o = api.invoke(url_event(&req), CALL_TIMEOUT).await;
            sb.kill().await;
            drop(group);
            drop(api);
            let o = o?;
            if o.error {
                return Err(format!(
                    "{f}: invocation error: {}",
                    String::from_utf8_lossy(&o.body)
                ));
            }
            let r = parse_response(&o.body)?;
            match f {
                "authorize" => {
                    expect(&r, 200, f)?;
                    form_tx(&r)?;
                }
                "callback" => {
                    code_from(&r)?;
                }
                "token" => {
                    expect_token(&r, f, false)?;
                }
                "refresh" => rt = s(&expect_token(&r, f, true)?, "refresh_token")?,
                "change-password" => expect_changed(&r)?,
                "introspect" => {
                    expect_active(&r, f)?;
                }
                "userinfo" => expect_userinfo(&r)?,
                _ => expect(&r, 200, f)?,
            }
            c.ready_us
                .push(ready.saturating_duration_since(spawned).as_micros() as u64);
            c.first_response_us.push(
                o.done
                    .saturating_duration_since(spawned)
                    .saturating_sub(sampling)
                    .as_micros() as u64,
            );
            c.first_duration_us.push(o.duration().as_micros() as u64);
            if let Some((d, s)) = &plan.proxies {
                let (d, s) = (d.take(), s.take());
                let all: Vec<_> = d
                    .exchanges
                    .iter()
                    .chain(s.exchanges.iter())
                    .copied()
                    .collect();
                c.net.push(NetSample {
                    wait_us: proxy::union_us(all),
                    dynamodb_calls: d.exchanges.len(),
                    secrets_calls: s.exchanges.len(),
                    connects: (d.connects + s.connects) as usize,
                });
            }
        }
        out.push(c);
    }
    Ok((
        out,
        Tokens {
            refresh: rt,
            access: at,
        },
    ))
}
