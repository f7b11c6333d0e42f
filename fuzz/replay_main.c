/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file replay_main.c
 * @brief A main() for the fuzz targets without libFuzzer: feeds every
 *        file named on the command line (directories: every file in them
 *        except dotfiles and README*) to LLVMFuzzerTestOneInput() once, in
 *        name order.  tools/fuzz.sh --replay builds each target with it
 *        under gcc -fsanitize=address,undefined; an invariant failure or a
 *        sanitizer report aborts, so the exit status is the verdict.
 */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

static int fz_replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long len;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0) {
        perror(path);
        if (f != NULL) {
            fclose(f);
        }
        return -1;
    }
    /* An exact-size heap copy, as libFuzzer passes it: one byte past the
     * end is a sanitizer report, not a silent read. */
    buf = malloc(len > 0 ? (size_t)len : 1);
    if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        perror(path);
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    fprintf(stderr, "replay %s (%ld bytes)\n", path, len);
    LLVMFuzzerTestOneInput(buf, (size_t)len);
    free(buf);
    return 0;
}

static int fz_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int fz_replay_dir(const char *dir, int *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    int rc = 0;

    if (d == NULL) {
        perror(dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0) {
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            names = realloc(names, cap * sizeof(*names));
            if (names == NULL) {
                abort();
            }
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n > 0) {
        qsort(names, n, sizeof(*names), fz_name_cmp);
    }
    for (i = 0; i < n; i++) {
        char *path = malloc(strlen(dir) + strlen(names[i]) + 2);
        struct stat st;

        sprintf(path, "%s/%s", dir, names[i]);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (fz_replay_file(path) != 0) {
                rc = -1;
            }
            else {
                (*count)++;
            }
        }
        free(path);
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    int i, count = 0, rc = 0;

    for (i = 1; i < argc; i++) {
        struct stat st;

        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            rc = 1;
        }
        else if (S_ISDIR(st.st_mode)) {
            if (fz_replay_dir(argv[i], &count) != 0) {
                rc = 1;
            }
        }
        else if (fz_replay_file(argv[i]) != 0) {
            rc = 1;
        }
        else {
            count++;
        }
    }
    printf("%s: %d input(s) replayed%s\n", argv[0], count,
           rc ? ", some could not be read" : "");
    return rc;
}
