//! Files (feature `drive`). The object stores behind botstate's `ObjectStore` ([`store`]:
//! local disk under the data directory by default, S3-compatible storage when `S3_URL` is
//! set); spaces of users, bots and organizations ([`space`]) with quotas and an index
//! kept by the store every write goes through ([`tracked`], which is `state.objects`, so
//! BASIC's file keywords obey the same quotas as the REST API); the trash, folder
//! operations and search ([`service`]); share links ([`links`]); content sniffing
//! ([`sniff`]) and ranges ([`range`]) for the REST routes ([`api`]); and bot packages
//! from the drive ([`packages`]), mirrored into a folder the BASIC engine loads like the
//! bots folder.
//!
//! It talks to no other domain: bots come from `state.bots`, secrets from
//! `state.secrets`, and the engine finds the packages mirror in `state.bot_folders`.

pub mod api;
pub mod links;
pub mod packages;
pub mod range;
pub mod repo;
pub mod service;
pub mod sniff;
pub mod space;
pub mod store;
pub mod testing;
pub mod tracked;

use botstate::services::ObjectStore;
use std::sync::Arc;
use std::time::Duration;

pub use service::Drive;
pub use space::Space;
pub use tracked::{Quotas, TrackedStore};

/// This crate's tables: the file index, quotas, trash and share links.
pub const MIGRATIONS: botstate::MigrationSet = botstate::MigrationSet {
    name: "drive",
    sqlite: diesel_migrations::embed_migrations!("migrations/sqlite"),
    postgres: diesel_migrations::embed_migrations!("migrations/postgres"),
};

/// The drive domain. Install it before the engine, which takes `state.objects` and
/// `state.bot_folders` from the state.
pub const MODULE: botserver_core::Module = botserver_core::Module {
    name: "drive",
    router: create_router,
    migrations: Some(&MIGRATIONS),
    openapi: api::openapi,
    install: Some(install),
    start: None,
};

/// The drive's routes. Panics if `install` did not run (a wiring bug, found at start-up).
pub fn create_router(state: Arc<botstate::AppState>) -> botserver_core::access::Routes {
    let drive = state
        .extensions
        .get::<Drive>()
        .expect("botserver-drive: MODULE.install must run before its router is built");
    api::routes(drive)
}

/// Opens the configured store: S3 when `drive.s3_url` is set, else the local folder.
pub async fn open_store(state: &botstate::AppState) -> Result<Arc<dyn ObjectStore>, String> {
    let config = &state.config.drive;
    if config.s3_url.trim().is_empty() {
        let dir = state.config.drive_dir();
        let store = store::local::LocalStore::open(dir.clone())
            .map_err(|e| format!("the drive folder {} cannot open: {e}", dir.display()))?;
        tracing::info!(store = "local", dir = %dir.display(), "drive");
        return Ok(Arc::new(store));
    }
    open_s3(state).await
}

#[cfg(feature = "s3")]
async fn open_s3(state: &botstate::AppState) -> Result<Arc<dyn ObjectStore>, String> {
    let config = &state.config.drive;
    let secret = |name: &'static str| async move {
        state
            .secrets
            .get(name)
            .await
            .map_err(|e| format!("the {name} secret: {e}"))?
            .map(|s| s.expose().to_string())
            .ok_or(format!("S3_URL is set but the {name} secret is not"))
    };
    let opts = store::s3::S3Options {
        endpoint: config.s3_url.trim().to_string(),
        bucket: config.s3_bucket.clone(),
        region: config.s3_region.clone(),
        path_style: config.s3_path_style,
        access_key: secret("s3-access-key").await?,
        secret_key: secret("s3-secret-key").await?,
    };
    let store = store::s3::S3Store::connect(opts)
        .await
        .map_err(|e| format!("the S3 drive cannot open: {e}"))?;
    tracing::info!(store = "s3", url = %config.s3_url, bucket = %config.s3_bucket, "drive");
    Ok(Arc::new(store))
}

#[cfg(not(feature = "s3"))]
async fn open_s3(_: &botstate::AppState) -> Result<Arc<dyn ObjectStore>, String> {
    Err(
        "S3_URL is set but this build has no S3 support: build with `cargo build -p botserver --features s3`"
            .into(),
    )
}

fn install(state: &mut botstate::AppState) -> botserver_core::InstallFuture<'_> {
    Box::pin(async move {
        let inner = open_store(state).await?;
        let config = state.config.drive.clone();
        let key = state
            .secrets
            .get_or_create("drive-link-key", botstate::cache::random_token())
            .await
            .map_err(|e| format!("the share-link key: {e}"))?;
        let links = Arc::new(links::Links::new(
            key.expose().as_bytes(),
            state.db.clone(),
            Duration::from_secs(u64::from(config.share_max_days) * 86_400),
        ));
        let quotas = Quotas {
            user: config.user_quota_bytes,
            bot: config.bot_quota_bytes,
            org: config.org_quota_bytes,
        };
        let tracked = Arc::new(TrackedStore::new(inner.clone(), state.db.clone(), quotas, links));
        state.objects = tracked.clone();
        let drive = Arc::new(Drive {
            store: tracked,
            db: state.db.clone(),
            bots: state.bots.clone(),
            config: config.clone(),
        });
        state
            .tasks
            .spawn(service::run_sweeper(drive.clone(), state.shutdown.child_token()));
        state.extensions.insert(drive);

        let prefix = config.packages_prefix.trim();
        if !prefix.is_empty() {
            let dir = state.config.server.data_dir.join("drive-packages");
            let mut mirror = packages::PackageMirror::open(inner, prefix, dir.clone())
                .map_err(|e| format!("the drive packages folder: {e}"))?;
            // The first poll before the engine loads its folders, so the bots are there
            // from the start; a store that is down now is polled again later.
            match mirror.sync().await {
                Ok(r) => tracing::info!(prefix, downloaded = r.downloaded, "drive packages"),
                Err(e) => tracing::warn!(prefix, error = %e, "drive packages: first poll failed"),
            }
            state.bot_folders.push(dir);
            state.tasks.spawn(packages::run(
                mirror,
                Duration::from_secs(config.packages_poll_secs),
                state.shutdown.child_token(),
            ));
        }
        Ok(())
    })
}
