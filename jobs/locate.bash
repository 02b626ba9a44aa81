# locate.bash - where the job scripts find mrcount and the demo-corpus generators (sourced by
# local.bash, slurm.bash and scaling, never run). The directory above jobs/ (its configs/ beside
# it) is either a checkout or PREFIX/share/mrcount of an installed mrcount (cmake --install),
# whose jobs/installed.bash, written by the install, says where the installation's binary and
# tools are. It only looks: it never builds, prints or exits.
# shellcheck shell=bash disable=SC2034 # the variables it sets are for the sourcing script

# mrc_locate HOME : HOME is the directory above jobs/ (absolute). Sets
#   MRC_INSTALLED  1 when HOME is part of an installation, else 0 (a checkout)
#   MRC_BUILD      a checkout's build tree ($MRC_BUILD_DIR, default HOME/build); empty if installed
#   MRC_TOOLS      where gen_corpus and gen_ngrams are: MRC_BUILD/tests, or PREFIX/libexec/mrcount
#   MRC_BIN        the mrcount to run, the first of: $MRCOUNT (as given, even if not there);
#                  the installation's PREFIX/bin/mrcount; the checkout's build/mrcount; the
#                  mrcount on PATH (a module puts it there); empty when there is none
#   MRC_BIN_FROM   where MRC_BIN came from: MRCOUNT, installation, checkout or PATH
mrc_locate() {
    local home=$1 own dir
    local MRC_INSTALL_BIN=bin MRC_INSTALL_TOOLS=libexec/mrcount # set by installed.bash
    MRC_INSTALLED=0 MRC_BUILD="" MRC_BIN="" MRC_BIN_FROM=""
    if [ -f "$home/jobs/installed.bash" ]; then
        # shellcheck source=/dev/null # written by cmake --install
        source "$home/jobs/installed.bash"
        MRC_INSTALLED=1
        dir=$(cd "$home/$MRC_INSTALL_BIN" 2>/dev/null && pwd) || dir=$home/$MRC_INSTALL_BIN
        own=$dir/mrcount
        MRC_TOOLS=$(cd "$home/$MRC_INSTALL_TOOLS" 2>/dev/null && pwd) || MRC_TOOLS=$home/$MRC_INSTALL_TOOLS
    else
        MRC_BUILD=${MRC_BUILD_DIR:-$home/build}
        own=$MRC_BUILD/mrcount
        MRC_TOOLS=$MRC_BUILD/tests
    fi
    if [ -n "${MRCOUNT:-}" ]; then
        MRC_BIN=$MRCOUNT MRC_BIN_FROM=MRCOUNT
    elif [ -x "$own" ]; then
        MRC_BIN=$own
        MRC_BIN_FROM=$([ "$MRC_INSTALLED" = 1 ] && echo installation || echo checkout)
    elif MRC_BIN=$(command -v mrcount); then
        MRC_BIN_FROM=PATH
    else
        MRC_BIN=""
    fi
}
