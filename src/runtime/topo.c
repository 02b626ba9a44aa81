/* topo.c - loads the hwloc topology (this machine, or a synthetic description for tests) and
 * reads the cpuset the launcher bound this process to; placement.c plans from both.
 * It must never bind anything, print, or exit: it only reads. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "topo_internal.h"

mrc_topo *mrc_topo_open(const char *synthetic, mrc_err *err)
{
    mrc_topo *t = calloc(1, sizeof *t);
    if (t == NULL) {
        mrc_err_set(err, MRC_ENOMEM, "topology: out of memory");
        return NULL;
    }
    if (hwloc_topology_init(&t->topo) != 0) {
        mrc_err_errno(err, errno, "topology: cannot initialise hwloc");
        free(t);
        return NULL;
    }
    if (synthetic != NULL && hwloc_topology_set_synthetic(t->topo, synthetic) != 0) {
        mrc_err_set(err, MRC_EINVAL, "topology: invalid synthetic description \"%s\"", synthetic);
        hwloc_topology_destroy(t->topo);
        free(t);
        return NULL;
    }
    if (hwloc_topology_load(t->topo) != 0) {
        mrc_err_errno(err, errno, "topology: cannot load the hwloc topology");
        hwloc_topology_destroy(t->topo);
        free(t);
        return NULL;
    }
    /* HWLOC_SYNTHETIC or HWLOC_XMLFILE in the environment also make it "not this system". */
    t->this_system = synthetic == NULL && hwloc_topology_is_thissystem(t->topo);
    return t;
}

void mrc_topo_close(mrc_topo *t)
{
    if (t == NULL) return;
    hwloc_topology_destroy(t->topo);
    free(t);
}

int mrc_topo_read_binding(mrc_topo *t, hwloc_bitmap_t set, mrc_err *err)
{
    hwloc_const_cpuset_t allowed = hwloc_topology_get_allowed_cpuset(t->topo);
    if (t->this_system && hwloc_get_cpubind(t->topo, set, HWLOC_CPUBIND_PROCESS) == 0) {
        /* Keep only PUs the topology knows (offline or cgroup-denied ones cannot host a thread). */
        if (hwloc_bitmap_and(set, set, allowed) != 0)
            return mrc_err_set(err, MRC_ENOMEM, "topology: out of memory");
        if (!hwloc_bitmap_iszero(set)) return MRC_OK;
    }
    if (hwloc_bitmap_copy(set, allowed) != 0)
        return mrc_err_set(err, MRC_ENOMEM, "topology: out of memory");
    if (hwloc_bitmap_iszero(set))
        return mrc_err_set(err, MRC_EINVAL, "topology: no usable processing unit");
    return MRC_OK;
}

char *mrc_topo_cpuset_string(mrc_topo *t, mrc_err *err)
{
    if (t == NULL) {
        mrc_err_set(err, MRC_EINVAL, "topology: not opened");
        return NULL;
    }
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (set == NULL) {
        mrc_err_set(err, MRC_ENOMEM, "topology: out of memory");
        return NULL;
    }
    char *list = NULL;
    if (mrc_topo_read_binding(t, set, err) == MRC_OK &&
        hwloc_bitmap_list_asprintf(&list, set) < 0) {
        list = NULL;
        mrc_err_set(err, MRC_ENOMEM, "topology: out of memory");
    }
    hwloc_bitmap_free(set);
    return list;
}
