# Shared helpers of the benchmark scripts (sourced).

# Median of numbers on stdin, one per line.
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# Runs a command (output discarded) and prints its wall time in milliseconds; a failing command
# ends the benchmark instead of producing a meaningless time.
ms() {
    local s=$EPOCHREALTIME
    "$@" >/dev/null || { echo "failed: $*" >&2; exit 1; }
    local e=$EPOCHREALTIME
    echo "($e - $s) * 1000" | bc -l
}
