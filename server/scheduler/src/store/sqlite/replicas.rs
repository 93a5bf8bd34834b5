//! [`Replicas`] on SQLite: one process, one connection, so each call's transaction is the whole
//! story; the same decisions as PostgreSQL's, without row locks.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::params;
use rusqlite::types::Value as V;

use super::{SqliteStore, finish_in, query_executions};
use crate::model::{Execution, ExecutionStatus, Schedule};
use crate::store::StoreResult;
use crate::store::replicas::{Claim, ClaimPage, Replicas, Slots};
use crate::store::rows::{self, EXECUTION_SELECT, SCHEDULE_COLUMNS, millis};

impl Replicas for SqliteStore {
    fn claim_executions(
        &self,
        claim: &Claim,
        accept: &mut dyn FnMut(&Execution) -> bool,
    ) -> StoreResult<ClaimPage> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let sql = format!(
            "SELECT {EXECUTION_SELECT} FROM executions WHERE status = 'queued' AND ready_at <= ?1 \
             AND seq > ?2 ORDER BY seq LIMIT ?3"
        );
        let page = query_executions(
            &tx,
            &sql,
            vec![
                V::Integer(millis(claim.now)),
                V::Integer(claim.after.unwrap_or(0)),
                V::Integer(claim.page as i64),
            ],
        )?;
        let last = page.last().map(|(seq, _)| *seq);
        let more = page.len() == claim.page;
        let mut schedules: Vec<Schedule> = Vec::new();
        let mut running: HashMap<String, u32> = HashMap::new();
        for id in page.iter().filter_map(|(_, e)| e.schedule_id.as_deref()) {
            if schedules.iter().any(|s| s.id == id) {
                continue;
            }
            let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = ?1");
            let mut stmt = tx.prepare_cached(&sql)?;
            let mut found = stmt.query([id])?;
            if let Some(row) = found.next()? {
                schedules.push(rows::schedule(row)?);
            }
            let count: u32 = tx
                .prepare_cached(
                    "SELECT COUNT(*) FROM executions WHERE schedule_id = ?1 AND status = 'running'",
                )?
                .query_row([id], |row| row.get(0))?;
            running.insert(id.to_owned(), count);
        }
        let candidates = page.into_iter().map(|(_, e)| e).collect();
        let claimed = Slots::new(&schedules, &running).pick(candidates, claim, accept);
        for execution in &claimed {
            tx.prepare_cached(
                "UPDATE executions SET status = 'running', started_at = ?2, replica = ?3, \
                 lease_until = ?4 WHERE id = ?1 AND status = 'queued'",
            )?
            .execute(params![
                execution.id,
                millis(claim.now),
                claim.replica,
                millis(claim.lease_until)
            ])?;
        }
        tx.commit()?;
        Ok(ClaimPage {
            claimed,
            last,
            more,
        })
    }

    fn renew_leases(
        &self,
        replica: &str,
        ids: &[String],
        until: DateTime<Utc>,
    ) -> StoreResult<Vec<String>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut renewed = Vec::new();
        for id in ids {
            let changed = tx
                .prepare_cached(
                    "UPDATE executions SET lease_until = ?3 \
                     WHERE id = ?1 AND replica = ?2 AND status = 'running'",
                )?
                .execute(params![id, replica, millis(until)])?;
            if changed == 1 {
                renewed.push(id.clone());
            }
        }
        tx.commit()?;
        Ok(renewed)
    }

    fn end_expired_leases(
        &self,
        now: DateTime<Utc>,
        end: &mut dyn FnMut(&Execution) -> (Execution, Option<Execution>),
    ) -> StoreResult<Vec<(Execution, Option<Execution>)>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let sql = format!(
            "SELECT {EXECUTION_SELECT} FROM executions WHERE status = 'running' \
             AND lease_until < ?1 ORDER BY seq"
        );
        let expired = query_executions(&tx, &sql, vec![V::Integer(millis(now))])?;
        let mut ended = Vec::with_capacity(expired.len());
        for (_, execution) in expired {
            let (row, retry) = end(&execution);
            let Some(retry) = finish_in(&tx, &row, ExecutionStatus::Running, retry.as_ref())?
            else {
                continue;
            };
            let retry = retry.cloned();
            ended.push((row, retry));
        }
        tx.commit()?;
        Ok(ended)
    }
}
