//! [`AlertState`]: one alert's life, inactive → pending → firing → resolved, with
//! Prometheus's semantics for `for`.
//!
//! At each evaluation the rule's condition is true or false for the alert:
//! - true while inactive or resolved: **pending**, active since now; if `for` is 0 it fires
//!   in the same evaluation (as in Prometheus);
//! - true while pending, and `for` has passed since it became active: **firing**;
//! - false while pending: back to **inactive**, with nothing sent (a pending alert was never
//!   announced);
//! - false while firing: **resolved** at now; it is sent once more, with its end time.
//!
//! A resolved alert that turns true again starts over at pending with a new active time.

/// The state of one alert (one rule, one group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlertState {
    /// The condition does not hold.
    #[default]
    Inactive,
    /// The condition holds, not yet for `for`.
    Pending {
        /// When it first held, ns since the epoch.
        active_at: u64,
    },
    /// The condition has held for `for`.
    Firing {
        /// When it first held.
        active_at: u64,
        /// When it started firing.
        fired_at: u64,
    },
    /// It fired, then the condition stopped holding.
    Resolved {
        /// When it first held.
        active_at: u64,
        /// When it started firing.
        fired_at: u64,
        /// When the condition stopped holding.
        resolved_at: u64,
    },
}

/// What one evaluation changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Nothing.
    None,
    /// Inactive or resolved → pending.
    Pending,
    /// → firing (from pending, or from inactive with `for: 0`).
    Fired,
    /// Pending → inactive: the condition stopped holding before `for`.
    Cleared,
    /// Firing → resolved.
    Resolved,
}

impl AlertState {
    /// Applies one evaluation: the condition's truth at `now`, with `for_ns` the rule's `for`.
    pub fn step(&mut self, holds: bool, now: u64, for_ns: u64) -> Transition {
        match (*self, holds) {
            (AlertState::Inactive | AlertState::Resolved { .. }, true) => {
                if for_ns == 0 {
                    *self = AlertState::Firing {
                        active_at: now,
                        fired_at: now,
                    };
                    Transition::Fired
                } else {
                    *self = AlertState::Pending { active_at: now };
                    Transition::Pending
                }
            }
            (AlertState::Pending { active_at }, true) => {
                if now.saturating_sub(active_at) >= for_ns {
                    *self = AlertState::Firing {
                        active_at,
                        fired_at: now,
                    };
                    Transition::Fired
                } else {
                    Transition::None
                }
            }
            (AlertState::Pending { .. }, false) => {
                *self = AlertState::Inactive;
                Transition::Cleared
            }
            (
                AlertState::Firing {
                    active_at,
                    fired_at,
                },
                false,
            ) => {
                *self = AlertState::Resolved {
                    active_at,
                    fired_at,
                    resolved_at: now,
                };
                Transition::Resolved
            }
            (AlertState::Firing { .. }, true)
            | (AlertState::Inactive | AlertState::Resolved { .. }, false) => Transition::None,
        }
    }

    /// `"pending"`, `"firing"` or `"inactive"` (resolved counts as inactive), as Prometheus
    /// names states.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending { .. } => "pending",
            AlertState::Firing { .. } => "firing",
            AlertState::Inactive | AlertState::Resolved { .. } => "inactive",
        }
    }

    /// When the condition first held, for pending and firing alerts.
    pub fn active_at(self) -> Option<u64> {
        match self {
            AlertState::Pending { active_at } | AlertState::Firing { active_at, .. } => {
                Some(active_at)
            }
            _ => None,
        }
    }

    /// True for pending and firing: listed at `/api/v1/alerts`.
    pub fn is_active(self) -> bool {
        self.active_at().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    /// Runs `steps` of (time in s, condition) with `for` = `for_s`, returning the
    /// transitions and the final state.
    fn run(for_s: u64, steps: &[(u64, bool)]) -> (Vec<Transition>, AlertState) {
        let mut state = AlertState::default();
        let t = steps
            .iter()
            .map(|&(at, holds)| state.step(holds, at * S, for_s * S))
            .collect();
        (t, state)
    }

    #[test]
    fn pending_after_first_true_then_firing_after_for() {
        let (t, state) = run(
            60,
            &[(0, false), (15, true), (30, true), (75, true), (90, true)],
        );
        assert_eq!(
            t,
            [
                Transition::None,
                Transition::Pending,
                Transition::None,
                Transition::Fired,
                Transition::None
            ]
        );
        assert_eq!(
            state,
            AlertState::Firing {
                active_at: 15 * S,
                fired_at: 75 * S
            }
        );
        assert_eq!(state.as_str(), "firing");
        assert_eq!(state.active_at(), Some(15 * S));
    }

    #[test]
    fn fires_one_evaluation_short_of_for_only_when_for_has_passed() {
        // Active at 15; at 74 s only 59 s have passed.
        let (t, state) = run(60, &[(15, true), (74, true)]);
        assert_eq!(t, [Transition::Pending, Transition::None]);
        assert_eq!(state, AlertState::Pending { active_at: 15 * S });
        assert_eq!(state.as_str(), "pending");
    }

    #[test]
    fn for_zero_fires_at_once() {
        let (t, state) = run(0, &[(5, true)]);
        assert_eq!(t, [Transition::Fired]);
        assert_eq!(
            state,
            AlertState::Firing {
                active_at: 5 * S,
                fired_at: 5 * S
            }
        );
    }

    #[test]
    fn pending_that_stops_holding_is_cleared_silently() {
        let (t, state) = run(60, &[(0, true), (30, false), (45, true)]);
        assert_eq!(
            t,
            [
                Transition::Pending,
                Transition::Cleared,
                Transition::Pending
            ]
        );
        // A new active time: the 60 s start again.
        assert_eq!(state, AlertState::Pending { active_at: 45 * S });
    }

    #[test]
    fn resolved_when_false_and_refires_from_pending() {
        let (t, state) = run(
            10,
            &[
                (0, true),
                (10, true),
                (20, false),
                (30, false),
                (40, true),
                (50, true),
            ],
        );
        assert_eq!(
            t,
            [
                Transition::Pending,
                Transition::Fired,
                Transition::Resolved,
                Transition::None,
                Transition::Pending,
                Transition::Fired
            ]
        );
        assert_eq!(
            state,
            AlertState::Firing {
                active_at: 40 * S,
                fired_at: 50 * S
            }
        );
        let (_, resolved) = run(10, &[(0, true), (10, true), (20, false)]);
        assert_eq!(
            resolved,
            AlertState::Resolved {
                active_at: 0,
                fired_at: 10 * S,
                resolved_at: 20 * S
            }
        );
        assert_eq!(resolved.as_str(), "inactive");
        assert!(!resolved.is_active());
    }
}
