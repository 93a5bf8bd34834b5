//! Cells as the user counts them. A run indexes the notebook it runs, the output notebook, which has
//! one cell more than the user's when nbgate added the injected-parameters cell; papermill's records
//! (the error markers, `PapermillExecutionError`) keep those indices. What the user is shown (cell n
//! of m, the failing cell) counts the cells of their own notebook instead: [`UserNumbered`] maps a
//! run's progress and outcome to that numbering.

use super::Outcome;
use super::events::{Progress, ProgressSink};

/// The numbering of one run: where the added injected cell is, if one was added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CellNumbering {
    injected_cell: Option<usize>,
}

impl CellNumbering {
    /// `injected_cell`: the index of the cell the injection added (`None` when it added none).
    pub fn new(injected_cell: Option<usize>) -> CellNumbering {
        CellNumbering { injected_cell }
    }

    /// Whether run cell `index` is the added injected cell.
    pub fn is_injected(&self, index: usize) -> bool {
        self.injected_cell == Some(index)
    }

    /// The user's 0-based index of run cell `index`. The injected cell counts as the cell it follows
    /// (the `parameters` cell), or as the first cell when it leads the notebook.
    pub fn user_index(&self, index: usize) -> usize {
        match self.injected_cell {
            Some(injected) if index > injected => index - 1,
            Some(injected) if index == injected => injected.saturating_sub(1),
            _ => index,
        }
    }

    /// The number of cells in the user's notebook, given the run's.
    pub fn user_total(&self, total: usize) -> usize {
        total.saturating_sub(usize::from(self.injected_cell.is_some()))
    }

    /// `outcome` with its cell index in the user's numbering.
    pub fn user_outcome(&self, outcome: Outcome) -> Outcome {
        match outcome {
            Outcome::Failed(mut error) => {
                error.cell_index = self.user_index(error.cell_index);
                Outcome::Failed(error)
            }
            Outcome::TimedOut {
                cell_index,
                message,
            } => Outcome::TimedOut {
                cell_index: self.user_index(cell_index),
                message,
            },
            Outcome::KernelDied { cell_index, reason } => Outcome::KernelDied {
                cell_index: self.user_index(cell_index),
                reason,
            },
            Outcome::Cancelled { cell_index } => Outcome::Cancelled {
                cell_index: self.user_index(cell_index),
            },
            done @ (Outcome::Succeeded | Outcome::Prepared) => done,
        }
    }
}

/// A sink that passes progress on in the user's numbering: totals without the added injected cell,
/// indices of the user's notebook, and no start or end of the injected cell itself (its outputs, if
/// any, go to the cell before it). Learns the numbering from [`Progress::Started`]; map the run's
/// outcome with [`UserNumbered::numbering`] afterwards.
pub struct UserNumbered<'a> {
    inner: &'a mut dyn ProgressSink,
    numbering: CellNumbering,
}

impl<'a> UserNumbered<'a> {
    pub fn new(inner: &'a mut dyn ProgressSink) -> UserNumbered<'a> {
        UserNumbered {
            inner,
            numbering: CellNumbering::default(),
        }
    }

    /// The numbering of the run, once it started (before: none added).
    pub fn numbering(&self) -> CellNumbering {
        self.numbering
    }
}

impl ProgressSink for UserNumbered<'_> {
    fn report(&mut self, progress: Progress) {
        let numbering = self.numbering;
        let mapped = match progress {
            Progress::Started {
                total,
                injected_cell,
            } => {
                self.numbering = CellNumbering::new(injected_cell);
                Progress::Started {
                    total: self.numbering.user_total(total),
                    injected_cell: None,
                }
            }
            Progress::CellStarted { index, .. } | Progress::CellFinished { index, .. }
                if numbering.is_injected(index) =>
            {
                return;
            }
            Progress::CellStarted { index, total } => Progress::CellStarted {
                index: numbering.user_index(index),
                total: numbering.user_total(total),
            },
            Progress::CellFinished {
                index,
                total,
                failed,
            } => Progress::CellFinished {
                index: numbering.user_index(index),
                total: numbering.user_total(total),
                failed,
            },
            Progress::Output { index, output } => Progress::Output {
                index: numbering.user_index(index),
                output,
            },
            Progress::Recorded { index, name, value } => Progress::Recorded {
                index: numbering.user_index(index),
                name,
                value,
            },
            other @ (Progress::KernelReady { .. } | Progress::Warning(_)) => other,
        };
        self.inner.report(mapped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::papermill::PapermillExecutionError;
    use serde_json::json;

    fn run_events(total: usize, injected_cell: Option<usize>) -> Vec<Progress> {
        let mut events = vec![Progress::Started {
            total,
            injected_cell,
        }];
        for index in 0..total {
            events.push(Progress::CellStarted { index, total });
            events.push(Progress::Output {
                index,
                output: json!({"output_type": "stream"}),
            });
            events.push(Progress::CellFinished {
                index,
                total,
                failed: false,
            });
        }
        events
    }

    /// (cell, total) of every start and every output's cell, as the user's sink sees them.
    fn seen(total: usize, injected_cell: Option<usize>) -> (Vec<(usize, usize)>, Vec<usize>) {
        let mut received = Vec::new();
        let mut collect = |progress: Progress| received.push(progress);
        let mut sink = UserNumbered::new(&mut collect);
        for event in run_events(total, injected_cell) {
            sink.report(event);
        }
        let starts = received
            .iter()
            .filter_map(|p| match p {
                Progress::CellStarted { index, total } => Some((*index, *total)),
                _ => None,
            })
            .collect();
        let outputs = received
            .iter()
            .filter_map(|p| match p {
                Progress::Output { index, .. } => Some(*index),
                _ => None,
            })
            .collect();
        (starts, outputs)
    }

    #[test]
    fn the_injected_cell_is_not_counted() {
        // The user's 3 cells, the parameters cell first: the run has 4, the injected one at 1.
        let (starts, outputs) = seen(4, Some(1));
        assert_eq!(starts, [(0, 3), (1, 3), (2, 3)]);
        assert_eq!(outputs, [0, 0, 1, 2]);
        // No parameters cell: injected at the top.
        let (starts, outputs) = seen(3, Some(0));
        assert_eq!(starts, [(0, 2), (1, 2)]);
        assert_eq!(outputs, [0, 0, 1]);
        // No parameters, or an earlier run's injected cell replaced: the run is the user's notebook.
        let (starts, _) = seen(2, None);
        assert_eq!(starts, [(0, 2), (1, 2)]);
    }

    #[test]
    fn outcomes_name_the_users_cell() {
        let numbering = CellNumbering::new(Some(2));
        let failure = |cell_index| {
            Outcome::Failed(PapermillExecutionError {
                cell_index,
                execution_count: Some(4),
                source: "raise ValueError".into(),
                ename: "ValueError".into(),
                evalue: "bad".into(),
                traceback: vec![],
            })
        };
        // Cell 3 of the run is the user's cell 2 (0-based), their third.
        assert_eq!(numbering.user_outcome(failure(3)), failure(2));
        assert_eq!(numbering.user_outcome(failure(1)), failure(1));
        assert_eq!(
            numbering.user_outcome(Outcome::TimedOut {
                cell_index: 5,
                message: "m".into()
            }),
            Outcome::TimedOut {
                cell_index: 4,
                message: "m".into()
            }
        );
        // Dying while the parameters are assigned: the parameters cell.
        assert_eq!(
            numbering.user_outcome(Outcome::KernelDied {
                cell_index: 2,
                reason: "r".into()
            }),
            Outcome::KernelDied {
                cell_index: 1,
                reason: "r".into()
            }
        );
        assert_eq!(
            CellNumbering::new(Some(0)).user_outcome(Outcome::Cancelled { cell_index: 0 }),
            Outcome::Cancelled { cell_index: 0 }
        );
        assert_eq!(
            CellNumbering::default().user_outcome(failure(3)),
            failure(3)
        );
    }
}
