//! The future every port method returns.

/// A boxed, `Send` future, the return type of every port method (keeps the ports dyn-compatible).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
