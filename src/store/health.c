/* Whether the storage can take writes: /ready says so when it cannot (a full
 * disk). Backends note a write that failed for want of space and a write
 * that committed; the note of a failure holds for STORE_WRITE_FULL_MEMORY_MS
 * at most, so an instance whose disk was freed while no write came (behind
 * a load balancer that sends it nothing while it is not ready) gets ready
 * again. Lock-free: one atomic per store. */
#include "store/backend.h"
#include "util/clock.h"

enum { STORE_WRITE_FULL_MEMORY_MS = 15000 };

void
store_note_write_full(struct store *s)
{
    int64_t now = clock_mono_ms();
    atomic_store_explicit(&s->write_full_at, now > 0 ? now : 1, memory_order_relaxed);
}

void
store_note_write_ok(struct store *s)
{
    if (atomic_load_explicit(&s->write_full_at, memory_order_relaxed) != 0)
        atomic_store_explicit(&s->write_full_at, 0, memory_order_relaxed);
}

bool
store_writes_blocked(struct store *s)
{
    int64_t at = atomic_load_explicit(&s->write_full_at, memory_order_relaxed);
    if (at != 0 && clock_mono_ms() - at < STORE_WRITE_FULL_MEMORY_MS)
        return true;
    return s->ops->space_low != NULL && s->ops->space_low(s);
}
