# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Shell functions shared by the scripts that run the test suite; sourced.

# copy_tree DEST: copies into DEST the files git knows of in this tree
# (tracked or new, not a previous build's output).  The list goes along
# as DEST/.tree-files, so that a copy, which is no git work tree, can be
# copied the same way.
copy_tree() {
    local top list
    top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    list=$(mktemp)
    if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$top" ls-files -z --cached --others --exclude-standard >"$list"
    else
        cp "$top/.tree-files" "$list"
    fi
    tar -C "$top" --null --no-recursion -T "$list" -cf - | tar -xf - -C "$1"
    cp "$list" "$1/.tree-files"
    rm -f "$list"
}

# private_copy NAME: makes a private copy of this tree, $work, and goes
# there, for a build of its own that leaves the tree's alone.  The copy is
# removed when the script exits, unless it failed or KEEP_COPY=1: then its
# path is printed.
private_copy() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/kvcache-$1.XXXXXX")
    # shellcheck disable=SC2064
    trap "keep_or_remove '$work'" EXIT
    copy_tree "$work"
    cd "$work"
}

keep_or_remove() {
    local rc=$?
    if [ $rc != 0 ] || [ "${KEEP_COPY:-0}" = 1 ]; then
        echo "$(basename "$0"): build and logs kept in $1" >&2
    else
        rm -rf "$1"
    fi
    exit $rc
}

# apache_test [-httpd WRAPPER] [TEST.PL ARGS...]: runs the Apache::Test
# suite from t/ of the current tree.  -port select: another httpd on the
# default port must not stop the run.  Apache::Test exits 0 when its
# server cannot start at all, so success is its own verdict line, not
# only its exit status.
apache_test() {
    local out rc=0
    out=$(mktemp)
    (cd t && perl TEST.PL -apxs "$(command -v apxs || command -v apxs2)" \
        -port select "$@") 2>&1 | tee "$out" || rc=$?
    if ! grep -q "^Result: PASS" "$out"; then
        echo "the Apache::Test suite did not pass" >&2
        rc=1
    fi
    rm -f "$out"
    return $rc
}
