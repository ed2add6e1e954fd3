//! Integration tests of the scheduler and the task list.
mod scheduler;
mod todo;
