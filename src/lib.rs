//! downhill: reverse-mode autodiff tensors with strict shapes (facade crate).
pub use downhill_gradcheck as gradcheck;
pub use downhill_tensor as tensor;
