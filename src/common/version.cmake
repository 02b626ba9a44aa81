# version.cmake - run at every build (cmake -P, from CMakeLists.txt): writes OUTPUT, the C source
# of mrc_common_version() and mrc_common_version_date(), from TEMPLATE (version.c.in): VERSION
# (project(VERSION), the one place the version is set), followed by " (DESCRIPTION)" when
# SOURCE_DIR is a git checkout: `git describe --tags --always` plus "-dirty" when tracked files
# differ from HEAD, e.g. "0.1.0 (7e2ce30-dirty)"; the date is the commit's (YYYY-MM-DD).
# It must never fail the build: no git, a source tarball (no .git in SOURCE_DIR) or a git that
# refuses the checkout (another owner) give the plain version and no date. OUTPUT is rewritten
# only when its text changes, so an unchanged version recompiles nothing. It never takes git's
# index lock (GIT_OPTIONAL_LOCKS=0): a build must not make a concurrent commit fail.
foreach(var SOURCE_DIR OUTPUT TEMPLATE VERSION)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "version.cmake: -D${var}=... is required")
  endif()
endforeach()

set(MRC_VERSION_FULL "${VERSION}")
set(MRC_VERSION_DATE "")
find_program(MRC_GIT git)
# .git is a directory in a clone, a file in a worktree; without it SOURCE_DIR may still sit
# inside some other repository, whose description is not ours.
if(MRC_GIT AND EXISTS "${SOURCE_DIR}/.git")
  set(ENV{GIT_OPTIONAL_LOCKS} 0)
  execute_process(COMMAND "${MRC_GIT}" describe --tags --always
                  WORKING_DIRECTORY "${SOURCE_DIR}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE describe ERROR_QUIET
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(rc EQUAL 0 AND NOT describe STREQUAL "")
    execute_process(COMMAND "${MRC_GIT}" status --porcelain --untracked-files=no
                    WORKING_DIRECTORY "${SOURCE_DIR}"
                    RESULT_VARIABLE rc OUTPUT_VARIABLE changes ERROR_QUIET)
    if(rc EQUAL 0 AND NOT changes STREQUAL "")
      string(APPEND describe "-dirty")
    endif()
    execute_process(COMMAND "${MRC_GIT}" log -1 --format=%cd --date=short
                    WORKING_DIRECTORY "${SOURCE_DIR}"
                    RESULT_VARIABLE rc OUTPUT_VARIABLE date ERROR_QUIET
                    OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(rc EQUAL 0 AND date MATCHES "^[0-9]+-[0-9]+-[0-9]+$")
      set(MRC_VERSION_DATE "${date}")
    endif()
    # A tag may hold '"' (git forbids '\'): keep the C string literal whole.
    string(REPLACE "\"" "\\\"" describe "${describe}")
    set(MRC_VERSION_FULL "${VERSION} (${describe})")
  endif()
endif()

configure_file("${TEMPLATE}" "${OUTPUT}" @ONLY)
