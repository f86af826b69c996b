//! `tollgate-admin provider add|get|list|update|remove|connect` (SPEC:
//! Provisioning CLI).

use clap::{Args, Subcommand};
use secrecy::zeroize::Zeroizing;
use std::io::Read;
use tollgate::admin::connect::UpstreamLogin;
use tollgate::admin::providers::{ProviderOpts, ProviderUpdate};
use tollgate::admin::{Admin, AdminError};
use tollgate::domain::providers::UpstreamGrant;

#[derive(Subcommand)]
pub enum ProviderCmd {
    /// Add an upstream provider (prints the callback_uri to register there).
    Add(Box<ProviderAdd>),
    /// Show a provider (never its client secret).
    Get(ProviderRef),
    /// List the tenant's providers.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Change a provider's settings (flags left out keep their values).
    Update(Box<ProviderUpdateArgs>),
    /// Remove a provider and its client secret.
    Remove(ProviderRef),
    /// Make the tenant's service connection to a password or
    /// client_credentials provider (password providers: the upstream
    /// username and password as two lines on stdin, never stored).
    Connect(ProviderConnect),
}

#[derive(Args)]
pub struct ProviderConnect {
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    name: String,
    /// Take the provider's ChangePassword step first (Profix
    /// RequireChangePassword): three lines on stdin, the username, the
    /// current password and the new password.
    #[arg(long)]
    change_password: bool,
}

#[derive(Args)]
pub struct ProviderRef {
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    name: String,
}

#[derive(Args)]
pub struct ProviderAdd {
    #[arg(long)]
    tenant: String,
    /// A slug (a-z, 0-9, -): the token exchange's `audience`, the scope `upstream:{name}`.
    #[arg(long)]
    name: String,
    /// maximizer, maximizer-on-premise, profix, keap, b2c-ropc, oidc or oauth2.
    #[arg(long)]
    preset: String,
    /// A value of the preset's URL templates (maximizer: region, company_alias;
    /// maximizer-on-premise: server; b2c-ropc: tenant, policy).
    #[arg(long = "var", value_name = "KEY=VALUE")]
    vars: Vec<String>,
    /// The OpenID issuer (oidc: the endpoints come from its discovery document).
    #[arg(long)]
    issuer: Option<String>,
    #[arg(long)]
    authorize_url: Option<String>,
    #[arg(long)]
    token_url: Option<String>,
    /// Where refresh grants go (default: the token URL).
    #[arg(long)]
    refresh_url: Option<String>,
    #[arg(long)]
    revocation_url: Option<String>,
    /// Profix's ChangePassword endpoint (default: the preset's, or
    /// `{--token-url}/ChangePassword` when the token URL is given).
    #[arg(long)]
    password_change_url: Option<String>,
    #[arg(long)]
    client_id: String,
    /// Read the upstream client secret from stdin (without it: a public client).
    #[arg(long)]
    client_secret_stdin: bool,
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// authorization_code, password or client_credentials (default: the preset's first).
    #[arg(long)]
    grant: Option<String>,
    #[arg(long)]
    display_name: Option<String>,
    /// Offer "Sign in with {display name}" on the login page (OpenID providers).
    #[arg(long)]
    sign_in: bool,
    /// An unlinked subject of this sign-in provider becomes a new user.
    #[arg(long)]
    create_users: bool,
}

#[derive(Args)]
pub struct ProviderUpdateArgs {
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    name: String,
    #[arg(long)]
    display_name: Option<String>,
    /// Replaces the scopes asked of the provider.
    #[arg(long = "scope", value_name = "SCOPE", num_args = 1..)]
    scopes: Option<Vec<String>>,
    #[arg(long)]
    client_id: Option<String>,
    /// Read a new upstream client secret from stdin.
    #[arg(long)]
    client_secret_stdin: bool,
    #[arg(long, value_name = "true|false")]
    sign_in: Option<bool>,
    #[arg(long, value_name = "true|false")]
    create_users: Option<bool>,
    #[arg(long)]
    authorize_url: Option<String>,
    #[arg(long)]
    token_url: Option<String>,
    #[arg(long)]
    refresh_url: Option<String>,
    #[arg(long)]
    revocation_url: Option<String>,
}

/// The secret is stdin, minus one trailing newline.
fn read_secret(wanted: bool) -> Result<Option<String>, AdminError> {
    if !wanted {
        return Ok(None);
    }
    crate::read_password().map(Some)
}

pub async fn run(admin: &Admin, cmd: ProviderCmd) -> Result<serde_json::Value, AdminError> {
    match cmd {
        ProviderCmd::Add(a) => {
            let a = *a;
            admin
                .add_provider(ProviderOpts {
                    client_secret: read_secret(a.client_secret_stdin)?,
                    tenant: a.tenant,
                    name: a.name,
                    preset: a.preset,
                    vars: a.vars,
                    issuer: a.issuer,
                    authorize_url: a.authorize_url,
                    token_url: a.token_url,
                    refresh_url: a.refresh_url,
                    revocation_url: a.revocation_url,
                    password_change_url: a.password_change_url,
                    client_id: a.client_id,
                    scopes: a.scopes,
                    grant: a.grant,
                    display_name: a.display_name,
                    sign_in: a.sign_in,
                    create_users: a.create_users,
                })
                .await
        }
        ProviderCmd::Get(r) => admin.get_provider(&r.tenant, &r.name).await,
        ProviderCmd::List { tenant } => admin.list_providers(&tenant).await,
        ProviderCmd::Update(u) => {
            let u = *u;
            admin
                .update_provider(ProviderUpdate {
                    client_secret: read_secret(u.client_secret_stdin)?,
                    tenant: u.tenant,
                    name: u.name,
                    display_name: u.display_name,
                    scopes: u.scopes,
                    client_id: u.client_id,
                    sign_in: u.sign_in,
                    create_users: u.create_users,
                    authorize_url: u.authorize_url,
                    token_url: u.token_url,
                    refresh_url: u.refresh_url,
                    revocation_url: u.revocation_url,
                })
                .await
        }
        ProviderCmd::Remove(r) => admin.remove_provider(&r.tenant, &r.name).await,
        ProviderCmd::Connect(c) => {
            admin
                .connect_provider(&c.tenant, &c.name, |grant| {
                    read_login(grant, c.change_password)
                })
                .await
        }
    }
}

/// The upstream credentials from stdin, only for a password provider (a
/// client_credentials provider reads nothing). The buffer is zeroed when
/// dropped.
fn read_login(grant: UpstreamGrant, change: bool) -> Result<Option<UpstreamLogin>, AdminError> {
    if grant != UpstreamGrant::Password {
        if change {
            return Err(AdminError(format!(
                "--change-password is for password providers (this one uses {})",
                grant.as_str()
            )));
        }
        return Ok(None);
    }
    let mut input = Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| AdminError(format!("cannot read the credentials from stdin: {e}")))?;
    UpstreamLogin::from_lines(&input, change).map(Some)
}
