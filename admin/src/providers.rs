//! `tollgate-admin provider add|get|list|update|remove` (SPEC: Provisioning
//! CLI). `provider connect` and `connection …` are not here yet.

use clap::{Args, Subcommand};
use tollgate::admin::providers::{ProviderOpts, ProviderUpdate};
use tollgate::admin::{Admin, AdminError};

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
    }
}
