/* topo_internal.h - what topo.c shares with placement.c and pool.c inside src/runtime/ only:
 * the loaded hwloc topology and whether it describes the machine we run on. Nothing outside
 * runtime/ may include this (hwloc stays behind include/mrcount/runtime.h). */
#ifndef MRC_RUNTIME_TOPO_INTERNAL_H
#define MRC_RUNTIME_TOPO_INTERNAL_H

#include <stdbool.h>

#include <hwloc.h>

#include "mrcount/runtime.h"

struct mrc_topo {
    hwloc_topology_t topo;
    bool this_system; /* false for synthetic (and XML) topologies: never bind, never query the OS */
};

/** mrc_topo_read_binding() : the PUs this process may run on, into `set` (allocated by the
 *  caller): the OS binding of the process on this machine, else the topology's allowed PUs.
 *  @return 0, or nonzero with err filled. */
int mrc_topo_read_binding(mrc_topo *t, hwloc_bitmap_t set, mrc_err *err);

#endif
