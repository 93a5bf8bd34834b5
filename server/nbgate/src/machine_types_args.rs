//! `--machine-types FILE` (`nbgate serve`, `nbgate run`) and `--machine-type NAME` (`nbgate run`): the
//! file is read and checked once at start; a bad file is a usage error of one line naming the file,
//! the entry and the problem.

use std::path::PathBuf;

use clap::Args;
use nbgate_executor::Notebook;
use nbgate_executor::run::RunRequest;
use nbgate_kernel::{KernelLocation, MachineTypes};

use crate::Failure;

/// The machine types file.
#[derive(Debug, Args)]
pub struct MachineTypesFile {
    /// Machine types: a TOML file of `[[machine_type]]` entries (name, description, env, gateway_url,
    /// local, kernels, max_concurrent, default, cpus, memory). See the README.
    #[arg(
        long = "machine-types",
        env = "NBGATE_MACHINE_TYPES",
        value_name = "FILE"
    )]
    pub machine_types: Option<PathBuf>,
}

impl MachineTypesFile {
    /// The types in the file (none without one); types without a location of their own start their
    /// kernels at `default_location`.
    pub fn load(&self, default_location: &KernelLocation) -> Result<MachineTypes, Failure> {
        match self
            .machine_types
            .as_deref()
            .filter(|file| !file.as_os_str().is_empty())
        {
            Some(file) => MachineTypes::load(file, default_location)
                .map_err(|error| Failure::usage(error.to_string())),
            None => Ok(MachineTypes::default()),
        }
    }
}

/// `nbgate run`'s choice of a machine type.
#[derive(Debug, Args)]
pub struct RunMachineType {
    #[command(flatten)]
    pub file: MachineTypesFile,
    /// Run on this machine type (from --machine-types); default: the file's default type.
    #[arg(long = "machine-type", value_name = "NAME")]
    pub machine_type: Option<String>,
}

impl RunMachineType {
    /// Applies the chosen type (or the file's default) to `request`: its location, variables and limits.
    pub fn apply(&self, request: &mut RunRequest, notebook: &Notebook) -> Result<(), Failure> {
        let types = self.file.load(&request.location)?;
        let chosen = match &self.machine_type {
            Some(name) if types.is_empty() => {
                return Err(Failure::usage(format!(
                    "--machine-type {name} needs --machine-types FILE (or NBGATE_MACHINE_TYPES)"
                )));
            }
            Some(name) => Some(types.get(name).ok_or_else(|| {
                Failure::usage(format!(
                    "--machine-type {name}: no such machine type; known: {}",
                    types.names().join(", ")
                ))
            })?),
            None => types.default_type(),
        };
        let Some(machine_type) = chosen else {
            return Ok(());
        };
        let kernel = request
            .kernel_name
            .as_deref()
            .or_else(|| notebook.kernel_name());
        if let Some(kernel) = kernel
            && !machine_type.allows_kernel(kernel)
        {
            return Err(Failure::usage(format!(
                "machine type {} does not run kernel {kernel}; it runs: {}",
                machine_type.name,
                machine_type.kernels.clone().unwrap_or_default().join(", ")
            )));
        }
        request.location = machine_type.apply(&mut request.launch);
        Ok(())
    }
}
