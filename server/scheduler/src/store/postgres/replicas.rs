//! [`Replicas`] on PostgreSQL. A claim reads a page of ready executions, locks their schedules'
//! rows in id order (so claims, fires and deletions of one schedule take turns and never deadlock:
//! each locks schedules before executions), counts each schedule's running executions under that
//! lock, then locks the executions `FOR UPDATE SKIP LOCKED` (a row another replica is claiming is
//! skipped, not waited for) and sets the chosen ones running in one statement.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{PostgresStore, executions, finish_in, int};
use crate::model::{Execution, ExecutionStatus, Schedule};
use crate::store::StoreResult;
use crate::store::replicas::{Claim, ClaimPage, Replicas, Slots};
use crate::store::rows::{self, EXECUTION_SELECT, SCHEDULE_COLUMNS, millis};

impl Replicas for PostgresStore {
    fn claim_executions(
        &self,
        claim: &Claim,
        accept: &mut dyn FnMut(&Execution) -> bool,
    ) -> StoreResult<ClaimPage> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let page = tx
                .query(
                    "SELECT id, schedule_id, seq FROM executions WHERE status = 'queued' \
                     AND ready_at <= $1 AND seq > $2 ORDER BY seq LIMIT $3",
                    &[
                        &millis(claim.now),
                        &claim.after.unwrap_or(0),
                        &i64::try_from(claim.page).unwrap_or(i64::MAX),
                    ],
                )
                .await?;
            let last = page.last().map(|row| row.get::<_, i64>(2));
            let more = page.len() == claim.page;
            let ids: Vec<String> = page.iter().map(|row| row.get(0)).collect();
            let mut schedule_ids: Vec<String> = page
                .iter()
                .filter_map(|row| row.get::<_, Option<String>>(1))
                .collect();
            schedule_ids.sort_unstable();
            schedule_ids.dedup();
            let locked = tx
                .query(
                    &format!(
                        "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = ANY($1) \
                         ORDER BY id FOR UPDATE"
                    ),
                    &[&schedule_ids],
                )
                .await?;
            let schedules: Vec<Schedule> = locked
                .iter()
                .map(rows::schedule)
                .collect::<StoreResult<_>>()?;
            let running: HashMap<String, u32> = tx
                .query(
                    "SELECT schedule_id, COUNT(*) FROM executions WHERE schedule_id = ANY($1) \
                     AND status = 'running' GROUP BY schedule_id",
                    &[&schedule_ids],
                )
                .await?
                .iter()
                .map(|row| {
                    let count = u32::try_from(row.get::<_, i64>(1)).unwrap_or(u32::MAX);
                    (row.get(0), count)
                })
                .collect();
            let sql = format!(
                "SELECT {EXECUTION_SELECT} FROM executions WHERE id = ANY($1) \
                 AND status = 'queued' ORDER BY seq FOR UPDATE OF executions SKIP LOCKED"
            );
            let statement = tx.prepare_cached(&sql).await?;
            let candidates = tx
                .query(&statement, &[&ids])
                .await?
                .iter()
                .map(|row| rows::execution(row).map(|(_, e)| e))
                .collect::<StoreResult<Vec<_>>>()?;
            let claimed = Slots::new(&schedules, &running).pick(candidates, claim, accept);
            let chosen: Vec<String> = claimed.iter().map(|e| e.id.clone()).collect();
            if !chosen.is_empty() {
                tx.execute(
                    "UPDATE executions SET status = 'running', started_at = $2, replica = $3, \
                     lease_until = $4 WHERE id = ANY($1)",
                    &[
                        &chosen,
                        &millis(claim.now),
                        &claim.replica,
                        &millis(claim.lease_until),
                    ],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(ClaimPage {
                claimed,
                last,
                more,
            })
        })
    }

    fn renew_leases(
        &self,
        replica: &str,
        ids: &[String],
        until: DateTime<Utc>,
    ) -> StoreResult<Vec<String>> {
        self.block(async {
            let client = self.client().await?;
            let renewed = client
                .query(
                    "UPDATE executions SET lease_until = $3 WHERE id = ANY($1) AND replica = $2 \
                     AND status = 'running' RETURNING id",
                    &[&ids, &replica, &millis(until)],
                )
                .await?;
            Ok(renewed.iter().map(|row| row.get(0)).collect())
        })
    }

    fn end_expired_leases(
        &self,
        now: DateTime<Utc>,
        end: &mut dyn FnMut(&Execution) -> (Execution, Option<Execution>),
    ) -> StoreResult<Vec<(Execution, Option<Execution>)>> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            // Rows another replica is ending are skipped; once it commits they are no longer
            // running. The lease is read under the lock, so one renewed meanwhile is not taken.
            let expired = executions(
                &tx,
                &format!(
                    "SELECT {EXECUTION_SELECT} FROM executions WHERE status = 'running' \
                     AND lease_until < $1 ORDER BY seq FOR UPDATE OF executions SKIP LOCKED"
                ),
                &[int(millis(now))],
            )
            .await?;
            let mut ended = Vec::with_capacity(expired.len());
            for (_, execution) in expired {
                let (row, retry) = end(&execution);
                let finished = finish_in(&tx, &row, ExecutionStatus::Running, retry.as_ref());
                let Some(retry) = finished.await? else {
                    continue;
                };
                let retry = retry.cloned();
                ended.push((row, retry));
            }
            tx.commit().await?;
            Ok(ended)
        })
    }
}
