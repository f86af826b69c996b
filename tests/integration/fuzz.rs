//! HTTP fuzz pass over every endpoint (authorize, callback, token, refresh,
//! change-password, discovery's three routes) with a fixed seed: random and
//! mutated requests built on a real tenant, clients, users and fresh tokens.
//! No answer may be a 5xx (503 included: no outage is simulated) or take over
//! 10 s; JSON endpoints answer RFC 6749 error JSON, authorize and callback
//! answer HTML error pages; a POST body over 64 KiB is 413. The generator is
//! `tollgate_tests::fuzzer`, shared with `make fuzz` (longer runs, any seed).

use crate::helpers::*;
use std::time::Duration;
use tollgate_tests::fuzzer::{
    CONFIDENTIAL_CLIENT, Config, Fuzzer, MAIN_USER, PUBLIC_CLIENT, Target, VICTIM_USERS,
};

const REQUESTS: usize = 2500;
const SEED: u64 = 0x7011_6a7e;

async fn target(t: &TestTenant) -> Target {
    let confidential = t.client(CONFIDENTIAL_CLIENT).await;
    let public = t.client(PUBLIC_CLIENT).await;
    let main_id = t.user(MAIN_USER, &[]).await;
    let mut victims = Vec::new();
    for (name, extra) in VICTIM_USERS {
        victims.push((name.to_string(), t.user(name, extra).await));
    }
    Target {
        url_template: stack().function_base("{function}"),
        tenant: t.alias.clone(),
        confidential_id: confidential.id.clone(),
        confidential_secret: confidential.secret().to_owned(),
        public_id: public.id,
        main_user: (MAIN_USER.to_owned(), main_id),
        victims,
        password: PASSWORD.to_owned(),
    }
}

#[tokio::test]
async fn fuzzed_requests_never_get_5xx_hangs_or_malformed_errors() {
    let t = TestTenant::new().await;
    let target = target(&t).await;
    let report = Fuzzer::new(
        target,
        Config {
            requests: REQUESTS,
            seed: SEED,
            concurrency: 8,
            timeout: Duration::from_secs(10),
        },
    )
    .run()
    .await;
    if report.ok() {
        println!("{}", report.summary());
    }
    assert!(report.ok(), "{}\n{}", report.details(), report.summary());
}
