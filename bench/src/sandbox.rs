//! A warm sandbox (one function's `bootstrap` behind its own Runtime API
//! stand-in) and the meter of a series of requests on it.

use crate::config::Cfg;
use crate::event::{HttpRequest, HttpResponse, parse_response, url_event};
use crate::runtime::{RuntimeApi, Sandbox};
use crate::{R, lambda_cpu, procfs};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Warm {
    pub function: &'static str,
    api: RuntimeApi,
    sb: Sandbox,
    log: PathBuf,
    /// The CPU quota it runs under after init (Lambda's share of its memory).
    group: Option<lambda_cpu::CpuGroup>,
    /// Spawn → first `GET …/next` (init).
    pub init: Duration,
}

impl Warm {
    pub async fn start(cfg: &Cfg, function: &'static str, memory: Option<u32>) -> R<Warm> {
        Self::start_with(cfg, function, &[], &format!("{function}.log"), memory).await
    }

    /// Starts a sandbox and waits for the end of its init (its first `GET
    /// …/next`). With `memory`, the init runs unthrottled and the sandbox is
    /// then moved into a cgroup with that memory's CPU share, before any
    /// invocation is queued: as Lambda runs init and invocations.
    pub async fn start_with(
        cfg: &Cfg,
        function: &'static str,
        env: &[(&str, &str)],
        log_name: &str,
        memory: Option<u32>,
    ) -> R<Warm> {
        let api = RuntimeApi::start(&format!("tollgate-{function}"))
            .await
            .map_err(|e| e.to_string())?;
        let log = cfg.log_dir.join(log_name);
        let mem = memory
            .unwrap_or_else(|| cfg.memory_of(function))
            .to_string();
        let mut env: Vec<(&str, &str)> = env.to_vec();
        env.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", &mem));
        let sb = Sandbox::spawn(
            &cfg.bin(function),
            function,
            &api,
            &log,
            cfg.server_cpu,
            &env,
        )
        .map_err(|e| format!("cannot start {function}: {e}"))?;
        let Some(ready) = api.first_poll(Duration::from_secs(15)).await else {
            sb.kill().await;
            return Err(format!(
                "{function} never asked for an invocation (see {}); init errors: {:?}",
                log.display(),
                api.init_errors()
            ));
        };
        let init = ready.saturating_duration_since(sb.spawned);
        let group = lambda_cpu::CpuGroup::holding(memory, sb.pid)?;
        Ok(Warm {
            function,
            api,
            sb,
            log,
            group,
            init,
        })
    }

    pub async fn call(&self, req: &HttpRequest) -> R<(HttpResponse, Duration)> {
        let o = self.api.invoke(url_event(req), CALL_TIMEOUT).await?;
        if o.error {
            return Err(format!(
                "{}: invocation error: {}",
                self.function,
                String::from_utf8_lossy(&o.body)
            ));
        }
        Ok((parse_response(&o.body)?, o.duration()))
    }

    pub fn pid(&self) -> String {
        self.sb.pid.to_string()
    }

    pub async fn stop(self) {
        self.sb.kill().await;
        drop(self.group);
    }

    /// Spawn → the end of this invocation, for a sandbox's first request.
    pub async fn call_first(&self, req: &HttpRequest) -> R<(HttpResponse, Duration, Duration)> {
        let o = self.api.invoke(url_event(req), CALL_TIMEOUT).await?;
        if o.error {
            return Err(format!(
                "{}: invocation error: {}",
                self.function,
                String::from_utf8_lossy(&o.body)
            ));
        }
        Ok((
            parse_response(&o.body)?,
            o.done.saturating_duration_since(self.sb.spawned),
            o.duration(),
        ))
    }
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Samples of one endpoint on one warm sandbox, with its CPU and log volume.
pub struct Series {
    pub endpoint: &'static str,
    pub function: &'static str,
    pub samples_us: Vec<u64>,
    pub cpu_ticks: u64,
    pub cpu_sys_ticks: u64,
    pub log_bytes: u64,
    /// VmHWM of the serving process right after the series.
    pub hwm_after_kib: u64,
}

pub struct Meter {
    pid: String,
    log: PathBuf,
    ticks0: (u64, u64),
    log0: u64,
    function: &'static str,
    samples: Vec<u64>,
}

impl Meter {
    pub fn start(w: &Warm) -> Meter {
        Meter {
            pid: w.pid(),
            log: w.log.clone(),
            ticks0: procfs::cpu_split(&w.pid()).unwrap_or((0, 0)),
            log0: file_len(&w.log),
            function: w.function,
            samples: Vec::new(),
        }
    }
    pub fn add(&mut self, d: Duration) {
        self.samples.push(d.as_micros() as u64);
    }
    pub fn finish(self, endpoint: &'static str) -> Series {
        let (u1, s1) = procfs::cpu_split(&self.pid).unwrap_or(self.ticks0);
        Series {
            endpoint,
            function: self.function,
            samples_us: self.samples,
            cpu_ticks: (u1 + s1).saturating_sub(self.ticks0.0 + self.ticks0.1),
            cpu_sys_ticks: s1.saturating_sub(self.ticks0.1),
            log_bytes: file_len(&self.log).saturating_sub(self.log0),
            hwm_after_kib: procfs::status_kib(&self.pid, "VmHWM").unwrap_or(0),
        }
    }
}
