/* placement.c - decides how many workers this rank runs and on which cores: the rank's share of
 * its cpuset (co-located ranks with the same set split its cores), then one thread per core.
 * Pure planning on a loaded topology: it must never bind, start threads, print, or exit. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "topo_internal.h"

/* More threads than this per rank is a typo (or an exported OMP_NUM_THREADS meant for a
 * different program), not a placement: refuse it rather than start millions of threads. */
#define MRC_THREADS_MAX 65536u

/* A strict positive integer with optional surrounding blanks, stopping at `end` (a ',' for
 * OMP_NUM_THREADS lists, where the outermost level comes first). @return 0 if not one. */
static size_t parse_positive(const char *s, char end)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (!isdigit((unsigned char)*s)) return 0;
    errno = 0;
    char *stop = NULL;
    unsigned long long v = strtoull(s, &stop, 10);
    if (errno != 0 || v == 0 || v > (unsigned long long)SIZE_MAX) return 0;
    while (*stop == ' ' || *stop == '\t')
        stop++;
    if (*stop != '\0' && *stop != end) return 0;
    return (size_t)v;
}

/* Set to something other than blanks. */
static bool set_to_something(const char *v)
{
    if (v == NULL) return false;
    while (*v == ' ' || *v == '\t')
        v++;
    return *v != '\0';
}

static int choose_threads(size_t requested, size_t cores, size_t *n,
                          enum mrc_threads_source *source, const char **ignored, mrc_err *err)
{
    const char *name = NULL;
    if (requested > 0) {
        *n = requested;
        *source = MRC_THREADS_OPTION;
        name = "--threads";
    } else {
        const char *omp = getenv("OMP_NUM_THREADS");
        const char *slurm = getenv("SLURM_CPUS_PER_TASK");
        size_t v_omp = omp != NULL ? parse_positive(omp, ',') : 0;
        size_t v_slurm = slurm != NULL ? parse_positive(slurm, '\0') : 0;
        /* the first variable consulted that is set to something else than a count */
        if (v_omp == 0 && set_to_something(omp))
            *ignored = "OMP_NUM_THREADS";
        else if (v_omp == 0 && v_slurm == 0 && set_to_something(slurm))
            *ignored = "SLURM_CPUS_PER_TASK";
        if (v_omp > 0) {
            *n = v_omp;
            *source = MRC_THREADS_OMP;
            name = "OMP_NUM_THREADS";
        } else if (v_slurm > 0) {
            *n = v_slurm;
            *source = MRC_THREADS_SLURM;
            name = "SLURM_CPUS_PER_TASK";
        } else {
            *n = cores;
            *source = MRC_THREADS_CPUSET;
        }
    }
    if (*n > MRC_THREADS_MAX)
        return mrc_err_set(err, MRC_EINVAL, "%s: %zu threads per rank is more than the %u allowed",
                           name != NULL ? name : "cpuset", *n, MRC_THREADS_MAX);
    return MRC_OK;
}

/* hwloc_bitmap_list_sscanf() accepts junk ("1x" is the empty set, "0xff" is 255): check the
 * grammar first. A list is items "N", "N-M" or "N-" separated by commas. */
static bool list_syntax_ok(const char *s)
{
    bool any = false;
    while (*s != '\0') {
        if (!isdigit((unsigned char)*s)) return false;
        size_t digits = 0;
        while (isdigit((unsigned char)*s)) {
            s++;
            if (++digits > 9) return false;
        }
        if (*s == '-') {
            s++;
            digits = 0;
            while (isdigit((unsigned char)*s)) {
                s++;
                if (++digits > 9) return false;
            }
        }
        any = true;
        if (*s == ',')
            s++;
        else if (*s != '\0')
            return false;
    }
    return any;
}

static int read_cpuset(mrc_topo *t, const char *cpuset, hwloc_bitmap_t set, mrc_err *err)
{
    if (cpuset == NULL) return mrc_topo_read_binding(t, set, err);
    if (!list_syntax_ok(cpuset) || hwloc_bitmap_list_sscanf(set, cpuset) != 0)
        return mrc_err_set(err, MRC_EINVAL, "cpuset \"%s\": not a PU list such as \"0-3,8\"",
                           cpuset);
    if (hwloc_bitmap_iszero(set))
        return mrc_err_set(err, MRC_EINVAL, "cpuset \"%s\": empty", cpuset);
    return MRC_OK;
}

/* The cores (or PUs, on machines that report no cores) touching `set`, in logical order. */
static int list_cores(mrc_topo *t, hwloc_const_bitmap_t set, hwloc_obj_type_t *type, int **cores,
                      size_t *ncores, mrc_err *err)
{
    *type = HWLOC_OBJ_CORE;
    int total = hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_CORE);
    if (total <= 0) {
        *type = HWLOC_OBJ_PU;
        total = hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_PU);
    }
    *ncores = 0;
    *cores = total > 0 ? malloc((size_t)total * sizeof **cores) : NULL;
    if (*cores == NULL)
        return total > 0 ? mrc_err_set(err, MRC_ENOMEM, "placement: out of memory")
                         : mrc_err_set(err, MRC_EINVAL, "placement: the topology has no PU");
    for (int i = 0; i < total; i++) {
        hwloc_obj_t obj = hwloc_get_obj_by_type(t->topo, *type, (unsigned)i);
        if (obj != NULL && obj->cpuset != NULL && hwloc_bitmap_intersects(obj->cpuset, set))
            (*cores)[(*ncores)++] = i;
    }
    return MRC_OK;
}

/* The PUs of set in n cores (objects of `type`): at least one a core. */
static size_t count_pus(mrc_topo *t, hwloc_obj_type_t type, hwloc_const_bitmap_t set,
                        const int *cores, size_t n)
{
    hwloc_bitmap_t in = hwloc_bitmap_alloc();
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        hwloc_obj_t obj = hwloc_get_obj_by_type(t->topo, type, (unsigned)cores[i]);
        int pus = 0;
        if (in != NULL && obj != NULL && obj->cpuset != NULL &&
            hwloc_bitmap_and(in, obj->cpuset, set) == 0)
            pus = hwloc_bitmap_weight(in);
        total += pus > 0 ? (size_t)pus : 1;
    }
    hwloc_bitmap_free(in);
    return total;
}

size_t mrc_topo_idle_cores(mrc_topo *t, const char *used, size_t *total)
{
    *total = 0;
    if (t == NULL || used == NULL) return 0; /* NULL would read the process binding */
    mrc_err e = {0};                         /* "" or no list: nobody knows, nothing idle */
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    hwloc_obj_type_t type;
    int *cores = NULL;
    size_t touched = 0;
    if (set != NULL && read_cpuset(t, used, set, &e) == MRC_OK &&
        list_cores(t, set, &type, &cores, &touched, &e) == MRC_OK)
        *total = (size_t)hwloc_get_nbobjs_by_type(t->topo, type);
    free(cores);
    hwloc_bitmap_free(set);
    return *total - touched;
}

void mrc_placement_free(mrc_placement *p)
{
    if (p == NULL) return;
    if (p->cpus_of != NULL)
        for (size_t i = 0; i < p->nthreads; i++)
            free(p->cpus_of[i]);
    free(p->cpus_of);
    free(p->core_of);
    memset(p, 0, sizeof *p);
}

/* Fill threads of `out` from the share's cores: thread i on core i % nshare. */
static int place_threads(mrc_topo *t, hwloc_obj_type_t type, hwloc_const_bitmap_t set,
                         const int *share, size_t nshare, mrc_placement *out, mrc_err *err)
{
    out->core_of = calloc(out->nthreads, sizeof *out->core_of);
    out->cpus_of = calloc(out->nthreads, sizeof *out->cpus_of);
    hwloc_bitmap_t usable = hwloc_bitmap_alloc();
    if (out->core_of == NULL || out->cpus_of == NULL || usable == NULL) {
        hwloc_bitmap_free(usable);
        return mrc_err_set(err, MRC_ENOMEM, "placement: out of memory");
    }
    int rc = MRC_OK;
    for (size_t i = 0; i < out->nthreads && rc == MRC_OK; i++) {
        int core = share[i % nshare];
        out->core_of[i] = core;
        if (i >= nshare) { /* a wrapped thread shares the string of its core's first thread */
            out->cpus_of[i] = strdup(out->cpus_of[i % nshare]);
        } else {
            hwloc_obj_t obj = hwloc_get_obj_by_type(t->topo, type, (unsigned)core);
            if (hwloc_bitmap_and(usable, obj->cpuset, set) != 0 ||
                hwloc_bitmap_list_asprintf(&out->cpus_of[i], usable) < 0)
                out->cpus_of[i] = NULL;
        }
        if (out->cpus_of[i] == NULL) rc = mrc_err_set(err, MRC_ENOMEM, "placement: out of memory");
    }
    hwloc_bitmap_free(usable);
    return rc;
}

int mrc_placement_plan(mrc_topo *t, const char *cpuset, size_t share_index, size_t share_count,
                       size_t requested, mrc_placement *out, mrc_err *err)
{
    if (out == NULL || t == NULL)
        return mrc_err_set(err, MRC_EINVAL, "placement: no topology or no output");
    memset(out, 0, sizeof *out);
    if (share_count == 0 || share_index >= share_count)
        return mrc_err_set(err, MRC_EINVAL, "placement: rank %zu of %zu sharing the cpuset",
                           share_index, share_count);

    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (set == NULL) return mrc_err_set(err, MRC_ENOMEM, "placement: out of memory");
    int *cores = NULL;
    size_t ncores = 0;
    hwloc_obj_type_t type;
    int rc = read_cpuset(t, cpuset, set, err);
    if (rc == MRC_OK) rc = list_cores(t, set, &type, &cores, &ncores, err);
    if (rc == MRC_OK && ncores == 0)
        rc = mrc_err_set(err, MRC_EINVAL, "cpuset \"%s\": no PU of this machine",
                         cpuset != NULL ? cpuset : "(process binding)");
    if (rc == MRC_OK) {
        /* Contiguous slices keep a rank's cores together (same package/NUMA node when the
         * slices are large); with more ranks than cores, ranks take cores round-robin. */
        size_t lo, hi;
        if (share_count <= ncores) {
            lo = share_index * ncores / share_count;
            hi = (share_index + 1) * ncores / share_count;
        } else {
            lo = share_index % ncores;
            hi = lo + 1;
        }
        out->cores_available = hi - lo;
        out->cpus_available = count_pus(t, type, set, cores + lo, hi - lo);
        rc = choose_threads(requested, out->cores_available, &out->nthreads, &out->source,
                            &out->ignored_env, err);
        if (rc == MRC_OK) {
            out->oversubscribed = out->nthreads > out->cores_available;
            rc = place_threads(t, type, set, cores + lo, hi - lo, out, err);
        }
    }
    free(cores);
    hwloc_bitmap_free(set);
    if (rc != MRC_OK) mrc_placement_free(out);
    return rc;
}
