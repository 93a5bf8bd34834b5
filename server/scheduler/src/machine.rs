//! Machine types in the scheduler: which type an execution or schedule gets (the one asked for, which
//! must exist and run the kernel, else the default), and the type a run starts with. The types come
//! from [`crate::SchedulerConfig::machine_types`]; their kernels' limits are applied by the kernel
//! crate, their `max_concurrent` by the loop's dispatch.

use nbgate_executor::Notebook;
use nbgate_kernel::{MachineType, MachineTypes};

use crate::error::ValidationError;

/// The machine type to record: `given` (it must be configured), else the default type (`None` when
/// there are no types or none is the default).
pub(crate) fn chosen(
    types: &MachineTypes,
    given: Option<&str>,
) -> Result<Option<String>, ValidationError> {
    match given {
        Some(name) => match types.get(name) {
            Some(machine_type) => Ok(Some(machine_type.name.clone())),
            None => Err(ValidationError::UnknownMachineType {
                name: name.into(),
                known: types.names(),
            }),
        },
        None => Ok(types.default_type().map(|default| default.name.clone())),
    }
}

/// Checks that `machine_type` exists and runs the kernel (the one given, else the notebook's).
pub(crate) fn check(
    types: &MachineTypes,
    machine_type: Option<&str>,
    kernel: Option<&str>,
    notebook: &Notebook,
) -> Result<(), ValidationError> {
    let Some(name) = machine_type else {
        return Ok(());
    };
    chosen(types, Some(name))?;
    let kernel = kernel.or_else(|| notebook.kernel_name());
    if let (Some(machine_type), Some(kernel)) = (types.get(name), kernel)
        && !machine_type.allows_kernel(kernel)
    {
        return Err(ValidationError::KernelNotOnMachineType {
            machine_type: name.into(),
            kernel: kernel.into(),
            kernels: machine_type.kernels.clone().unwrap_or_default(),
        });
    }
    Ok(())
}

/// The type a run starts with; `Err` is the reason the execution fails (its type is no longer
/// configured).
pub(crate) fn for_run(
    types: &MachineTypes,
    name: Option<&str>,
) -> Result<Option<MachineType>, String> {
    match name {
        None => Ok(None),
        Some(name) => types.get(name).cloned().map(Some).ok_or_else(|| {
            ValidationError::UnknownMachineType {
                name: name.into(),
                known: types.names(),
            }
            .to_string()
        }),
    }
}

/// The `max_concurrent` of the execution's type, if it has one.
pub(crate) fn limit(types: &MachineTypes, name: Option<&str>) -> Option<u32> {
    types.get(name?)?.max_concurrent
}
