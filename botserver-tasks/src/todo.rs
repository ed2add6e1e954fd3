//! The task list (being written).

use crate::scheduler::DbScheduler;
use async_trait::async_trait;
use botlib::{AppError, AppResult};
use botstate::services::{Mailer, NewTask, TaskList};
use botstate::{Cache, Db};
use std::sync::Arc;

/// The task list.
pub struct TaskService;

impl TaskService {
    /// The service; registers its reminder handler on `scheduler`.
    pub fn new(_db: Db, _scheduler: Arc<DbScheduler>, _cache: Arc<dyn Cache>, _mailer: Arc<dyn Mailer>) -> Arc<TaskService> {
        Arc::new(TaskService)
    }
}

#[async_trait]
impl TaskList for TaskService {
    async fn create(&self, _task: NewTask) -> AppResult<String> {
        Err(AppError::NotConfigured("tasks"))
    }
}
