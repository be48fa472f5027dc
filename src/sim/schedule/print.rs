//! `{:?}` prints every schedule type as the Rust expression that builds it,
//! so that a schedule printed by a failing run pastes into a test as it is.

use std::fmt;

use super::{Action, LinkFaults, PersistSide, Schedule, Target};

/// `Schedule::new()` and an `.at(time, action)` for every action, in the
/// order they run (which rebuilds the same schedule).
impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Schedule::new()")?;
        for (at_us, action) in self.iter() {
            write!(f, ".at({at_us}, {action:?})")?;
        }
        Ok(())
    }
}

/// `Target::Node(NodeId(3))` or `Target::Goose`.
impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Node(id) => write!(f, "Target::Node({id:?})"),
            Target::Goose => f.write_str("Target::Goose"),
        }
    }
}

/// `PersistSide::Before` or `PersistSide::After`.
impl fmt::Debug for PersistSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PersistSide::Before => "PersistSide::Before",
            PersistSide::After => "PersistSide::After",
        })
    }
}

/// The struct literal; probabilities as float literals (`0.0`, `0.25`,
/// `1e-7`), or the `f64` constant for a value no literal spells.
impl fmt::Debug for LinkFaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkFaults")
            .field("latency_us", &self.latency_us)
            .field("jitter_us", &self.jitter_us)
            .field("loss_probability", &FloatLiteral(self.loss_probability))
            .field(
                "duplicate_probability",
                &FloatLiteral(self.duplicate_probability),
            )
            .finish()
    }
}

/// An `f64` as a Rust expression: `{:?}` of a finite value is a float
/// literal (it always has a `.` or an exponent); NaN and the infinities are
/// the `f64` constants.
struct FloatLiteral(f64);

impl fmt::Debug for FloatLiteral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.0;
        if value.is_nan() {
            f.write_str("f64::NAN")
        } else if value == f64::INFINITY {
            f.write_str("f64::INFINITY")
        } else if value == f64::NEG_INFINITY {
            f.write_str("f64::NEG_INFINITY")
        } else {
            write!(f, "{value:?}")
        }
    }
}

/// `Action::Variant(arguments)`, each argument as the expression that builds
/// it: a partition's groups as `vec![vec![...], ...]`, a command as
/// `SimCommand::Transfer(NodeId(3))`.
impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Cut(a, b) => write!(f, "Action::Cut({a:?}, {b:?})"),
            Action::CutOneWay(from, to) => write!(f, "Action::CutOneWay({from:?}, {to:?})"),
            Action::Repair(a, b) => write!(f, "Action::Repair({a:?}, {b:?})"),
            Action::Isolate(node) => write!(f, "Action::Isolate({node:?})"),
            Action::HealAll => f.write_str("Action::HealAll"),
            Action::Partition(groups) => {
                f.write_str("Action::Partition(vec![")?;
                for (index, group) in groups.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str("vec![")?;
                    for (index, node) in group.iter().enumerate() {
                        if index > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{node:?}")?;
                    }
                    f.write_str("]")?;
                }
                f.write_str("])")
            }
            Action::SetLink(from, to, faults) => {
                write!(f, "Action::SetLink({from:?}, {to:?}, {faults:?})")
            }
            Action::Crash(node) => write!(f, "Action::Crash({node:?})"),
            Action::CrashAtPersist(node, side) => {
                write!(f, "Action::CrashAtPersist({node:?}, {side:?})")
            }
            Action::Restart(node) => write!(f, "Action::Restart({node:?})"),
            Action::Pause(node, for_us) => write!(f, "Action::Pause({node:?}, {for_us})"),
            Action::SetClockRatePpm(node, ppm) => {
                write!(f, "Action::SetClockRatePpm({node:?}, {ppm})")
            }
            // `SimCommand` derives its `Debug` (`Transfer(NodeId(3))`), so
            // the path is spelled here.
            Action::Command(node, command) => {
                write!(f, "Action::Command({node:?}, SimCommand::{command:?})")
            }
        }
    }
}
