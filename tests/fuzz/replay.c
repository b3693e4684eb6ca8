/* Runs the API fuzzer's entry point once on each file named on the command
 * line (or each file in a named directory): the seed corpus and the crash
 * regressions become an ordinary test, with any compiler and no libFuzzer. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    static uint8_t buf[1 << 16];
    FILE *f = fopen(path, "rb");

    if (!f) {
        perror(path);
        return 1;
    }
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    return 0;
}

static int replay_dir(const char *path)
{
    DIR *dir = opendir(path);
    struct dirent *e;
    char file[4096];
    int failed = 0;

    if (!dir) {
        perror(path);
        return 1;
    }
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        failed |= replay_file(file);
    }
    closedir(dir);
    return failed;
}

int main(int argc, char **argv)
{
    int failed = 0;
    struct stat st;

    for (int i = 1; i < argc; i++)
        failed |= stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode) ? replay_dir(argv[i])
                                                                 : replay_file(argv[i]);
    return failed;
}
