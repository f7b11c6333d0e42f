# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Runs last: no httpd child of this run, in the main test server or in any
# server the other tests started, died of a signal.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;

my $logs = Apache::Test::vars('t_logs');
my @files = ("$logs/error_log", glob("$logs/server-*/error_log"));

plan tests => 1 + @files;

ok t_cmp(scalar(@files) > 5 ? 1 : 0, 1, scalar(@files) . ' error logs');
for my $file (@files) {
    open my $fh, '<', $file or die "$file: $!";
    my @crashes = grep { /exit signal|Segmentation fault|AddressSanitizer/ }
                  <$fh>;
    t_debug($_) for @crashes;
    ok t_cmp(scalar(@crashes), 0, "no crashed child in $file");
}
