//! Machine types: named kernel sizes read from a TOML file (`--machine-types FILE`). A type resolves
//! to where its kernels start ([`KernelLocation`]), the variables added to their environment (for a
//! gateway, the start request's `env`: `KERNEL_CPUS`, `KERNEL_MEMORY`, …) and, for local kernels, the
//! [`KernelLimits`] applied to the process (CPU affinity, a cgroup v2 memory limit).
//!
//! ```toml
//! [[machine_type]]
//! name = "cpu-4"
//! description = "4 CPUs, 15 GB RAM"
//! env = { KERNEL_CPUS = "4", KERNEL_MEMORY = "15Gi" }
//! default = true
//! ```
//!
//! Parsing is pure ([`MachineTypes::parse`]); [`MachineTypes::load`] reads the file and checks the
//! local types' CPU counts against what this process may use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::gateway::{Gateway, KernelLocation};
use crate::launch::LaunchOptions;
use crate::limits::{KernelLimits, allowed_cpus, parse_memory};

/// One machine type, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineType {
    pub name: String,
    /// What a user chooses by ("4 CPUs, 15 GB RAM").
    pub description: String,
    /// Added to the kernel's environment (a gateway passes on the `KERNEL_*` ones).
    pub env: BTreeMap<String, String>,
    pub location: KernelLocation,
    /// The kernelspecs this type may start; `None`: any.
    pub kernels: Option<Vec<String>>,
    /// At most this many executions of this type run at once; `None`: no limit of its own.
    pub max_concurrent: Option<u32>,
    pub default: bool,
    /// CPU and memory limits of a local kernel.
    pub limits: KernelLimits,
}

impl MachineType {
    /// Applies this type to a kernel start (its variables over `launch.env`, its limits) and returns
    /// where the kernel starts.
    pub fn apply(&self, launch: &mut LaunchOptions) -> KernelLocation {
        launch.env.extend(
            self.env
                .iter()
                .map(|(key, value)| (key.clone(), value.clone())),
        );
        launch.limits = self.limits;
        self.location.clone()
    }

    /// Whether `kernel` (a kernelspec name) may run on this type.
    pub fn allows_kernel(&self, kernel: &str) -> bool {
        self.kernels.as_ref().is_none_or(|kernels| {
            kernels
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(kernel))
        })
    }
}

/// The configured machine types, in the file's order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MachineTypes {
    types: Vec<MachineType>,
}

/// A bad machine types file: which file, which entry, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}{problem}", file.display(), entry.as_ref().map(|entry| format!("{entry}: ")).unwrap_or_default())]
pub struct MachineTypesError {
    pub file: PathBuf,
    /// `machine type "cpu-4" (entry 2)`, when one entry is at fault.
    pub entry: Option<String>,
    pub problem: String,
}

/// One `[[machine_type]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    env: BTreeMap<String, String>,
    gateway_url: Option<String>,
    #[serde(default)]
    local: bool,
    kernels: Option<Vec<String>>,
    max_concurrent: Option<u32>,
    #[serde(default)]
    default: bool,
    cpus: Option<u32>,
    memory: Option<toml::Value>,
}

impl MachineTypes {
    /// Reads and checks `file`. Types without `gateway_url` (and not `local = true`) start their kernels
    /// at `default_location`; a type with its own `gateway_url` uses the default gateway's token and
    /// `KERNEL_USERNAME`, if there is one.
    pub fn load(file: &Path, default_location: &KernelLocation) -> Result<Self, MachineTypesError> {
        let text = std::fs::read_to_string(file).map_err(|error| MachineTypesError {
            file: file.to_owned(),
            entry: None,
            problem: format!("cannot read it: {error}"),
        })?;
        let types = Self::parse(&text, file, default_location)?;
        let allowed = allowed_cpus();
        for machine_type in &types.types {
            if let Some(cpus) = machine_type.limits.cpus
                && cpus as usize > allowed.len()
            {
                return Err(MachineTypesError {
                    file: file.to_owned(),
                    entry: Some(format!("machine type {:?}", machine_type.name)),
                    problem: format!(
                        "cpus = {cpus}, but nbgate may use {} CPU(s) here",
                        allowed.len()
                    ),
                });
            }
        }
        Ok(types)
    }

    /// Parses the text of `file` (named in errors).
    pub fn parse(
        text: &str,
        file: &Path,
        default_location: &KernelLocation,
    ) -> Result<Self, MachineTypesError> {
        let fail = |entry: Option<String>, problem: String| MachineTypesError {
            file: file.to_owned(),
            entry,
            problem,
        };
        let mut table: toml::Table = text.parse().map_err(|error: toml::de::Error| {
            fail(None, error.message().to_owned() + &line_of(text, &error))
        })?;
        let entries = table.remove("machine_type");
        if let Some(key) = table.keys().next() {
            return Err(fail(
                None,
                format!("unknown key {key:?} (the file holds [[machine_type]] tables)"),
            ));
        }
        let Some(toml::Value::Array(entries)) = entries else {
            return Err(fail(
                None,
                "no [[machine_type]] entries (each needs at least a name)".into(),
            ));
        };
        let mut types: Vec<MachineType> = Vec::with_capacity(entries.len());
        for (index, value) in entries.into_iter().enumerate() {
            let position = index + 1;
            let name = value
                .get("name")
                .and_then(toml::Value::as_str)
                .map(str::to_owned);
            let label = match &name {
                Some(name) => format!("machine type {name:?} (entry {position})"),
                None => format!("machine type entry {position}"),
            };
            let entry: Entry = value.try_into().map_err(|error: toml::de::Error| {
                fail(Some(label.clone()), error.message().trim().to_owned())
            })?;
            let machine_type = resolve(entry, default_location)
                .map_err(|problem| fail(Some(label.clone()), problem))?;
            if types.iter().any(|known| known.name == machine_type.name) {
                return Err(fail(
                    Some(label),
                    "the name is already used by an earlier entry".into(),
                ));
            }
            if machine_type.default
                && let Some(other) = types.iter().find(|known| known.default)
            {
                return Err(fail(
                    Some(label),
                    format!(
                        "default = true, but {:?} is already the default (at most one)",
                        other.name
                    ),
                ));
            }
            types.push(machine_type);
        }
        Ok(Self { types })
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &MachineType> {
        self.types.iter()
    }

    pub fn get(&self, name: &str) -> Option<&MachineType> {
        self.types
            .iter()
            .find(|machine_type| machine_type.name == name)
    }

    /// The type marked `default = true`.
    pub fn default_type(&self) -> Option<&MachineType> {
        self.types.iter().find(|machine_type| machine_type.default)
    }

    /// The names, for "known: …" messages.
    pub fn names(&self) -> Vec<String> {
        self.types
            .iter()
            .map(|machine_type| machine_type.name.clone())
            .collect()
    }
}

/// Checks one entry and resolves its location and limits.
fn resolve(entry: Entry, default_location: &KernelLocation) -> Result<MachineType, String> {
    let Entry {
        name,
        description,
        env,
        gateway_url,
        local,
        kernels,
        max_concurrent,
        default,
        cpus,
        memory,
    } = entry;
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "name {name:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
        ));
    }
    if let Some(key) = env
        .keys()
        .find(|key| key.is_empty() || key.contains(['=', '\0']))
    {
        return Err(format!("env: {key:?} is not a variable name"));
    }
    if max_concurrent == Some(0) {
        return Err("max_concurrent = 0: give at least 1 (or leave it out for no limit)".into());
    }
    if cpus == Some(0) {
        return Err("cpus = 0: give at least 1 (or leave it out for no limit)".into());
    }
    if let Some(kernels) = &kernels
        && kernels.is_empty()
    {
        return Err("kernels = []: list at least one kernelspec (or leave it out for any)".into());
    }
    let memory = memory.map(|value| parse_memory(&value)).transpose()?;
    let location = match (gateway_url, local) {
        (Some(_), true) => {
            return Err(
                "gateway_url and local = true: a type is either on a gateway or local".into(),
            );
        }
        (Some(url), false) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "gateway_url {url:?}: give an http:// or https:// URL"
                ));
            }
            let (token, kernel_username) = match default_location {
                KernelLocation::Gateway(gateway) => {
                    (gateway.token.clone(), gateway.kernel_username.clone())
                }
                KernelLocation::Local => (None, None),
            };
            KernelLocation::Gateway(Gateway {
                url,
                token,
                kernel_username,
            })
        }
        (None, true) => KernelLocation::Local,
        (None, false) => default_location.clone(),
    };
    if matches!(location, KernelLocation::Gateway(_)) && (cpus.is_some() || memory.is_some()) {
        return Err(format!(
            "cpus and memory limit local kernels, and this type's kernels start on the gateway {}; \
             ask the gateway with env (KERNEL_CPUS, KERNEL_MEMORY), or set local = true",
            location.label()
        ));
    }
    Ok(MachineType {
        name,
        description,
        env,
        location,
        kernels,
        max_concurrent,
        default,
        limits: KernelLimits { cpus, memory },
    })
}

/// " (line N)" for a syntax error with a position.
fn line_of(text: &str, error: &toml::de::Error) -> String {
    error
        .span()
        .map(|span| {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!(" (line {line})")
        })
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "machine_types_tests.rs"]
mod tests;
