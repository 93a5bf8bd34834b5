//! The one list of variables that hold a server's secret and never reach a kernel, whoever starts it:
//! the gateway (`nbgate_api`'s `registry/env.rs`) and the scheduler's worker both drop them.

/// `nbgate serve`'s token, and the names Kernel Gateway and Enterprise Gateway read theirs from.
pub const SECRET_VARS: [&str; 3] = ["NBGATE_TOKEN", "KG_AUTH_TOKEN", "EG_AUTH_TOKEN"];

/// Whether the variable `name` holds a secret that a kernel must not see.
pub fn is_secret(name: &str) -> bool {
    SECRET_VARS.contains(&name)
}
