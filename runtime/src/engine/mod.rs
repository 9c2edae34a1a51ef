//! The wasmtime engine: component model, pooling allocator, epoch interruption, optional fuel,
//! and the linker every component is instantiated against.

pub mod cache;
pub(crate) mod limits;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Settings that change the engine (and so the compiled code and the cache key).
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineOptions {
    /// Meter fuel; needed when any run sets a fuel limit.
    pub fuel: bool,
}

/// Builds the engine, falling back to on-demand allocation if the pooling allocator cannot
/// reserve its address space (some containers cap virtual memory).
pub fn build_engine(options: EngineOptions) -> wasmtime::Result<Engine> {
    let mut config = base_config(options);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling()));
    match Engine::new(&config) {
        Ok(engine) => Ok(engine),
        Err(e) => {
            tracing::warn!("pooling allocator unavailable ({e}); using on-demand allocation");
            let mut config = base_config(options);
            config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Engine::new(&config)
        }
    }
}

fn base_config(options: EngineOptions) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.consume_fuel(options.fuel);
    config
}

/// Bytes of each memory, table and async stack that are reset in place when an instance ends
/// (only the pages in use, found with `PAGEMAP_SCAN` where the kernel has it) instead of being
/// handed back to the kernel: a fresh instance per task then costs no page faults and no TLB
/// shootdown across cores for its small memories.
const KEEP_RESIDENT: usize = 1 << 20;

/// Pool sizes: room for many concurrent tasks, and for the large instances that Python and
/// JavaScript guests bring (big tables, several memories and core instances).
fn pooling() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(256)
        .total_core_instances(2048)
        .total_memories(512)
        .total_tables(512)
        .total_stacks(256)
        .max_core_instances_per_component(64)
        .max_memories_per_component(8)
        .max_tables_per_component(8)
        .max_memory_size(4 << 30)
        .max_core_instance_size(8 << 20)
        .max_component_instance_size(1 << 20)
        .table_elements(1 << 20)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT)
        .async_stack_keep_resident(KEEP_RESIDENT)
        .pagemap_scan(wasmtime::Enabled::Auto);
    pool
}
