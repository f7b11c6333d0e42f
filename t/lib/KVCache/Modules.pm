# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
package KVCache::Modules;
# The httpd modules of tools/httpd-modules.txt, the one list that the Python
# side reads too (tools/kvcharness/httpdconf.py), as LoadModule lines: for
# the Apache::Test server (t/TEST.PL) and the tests' own (KVCache::Server).
use strict;
use warnings FATAL => 'all';

# The MPMs of httpd 2.4 on Unix: a server may load only one.
my @MPMS = qw(event worker prefork);

# (the default MPM, [module names]) from the list in the tree at $top.
sub module_list {
    my ($top) = @_;
    my $file = "$top/tools/httpd-modules.txt";
    open my $fh, '<', $file or die "$file: $!";
    my ($mpm, @modules);
    while (my $line = <$fh>) {
        (my $text = $line) =~ s/#.*//s;
        my @words = split ' ', $text;
        next unless @words;
        die "$file:$.: expected 'mpm NAME' or 'module NAME', got $line"
            unless @words == 2 && $words[0] =~ /^(?:mpm|module)$/;
        if ($words[0] eq 'mpm') {
            $mpm = $words[1];
        }
        else {
            push @modules, $words[1];
        }
    }
    return ($mpm, \@modules);
}

# LoadModule lines: the MPM (the listed one unless mpm => NAME), the listed
# modules from libexec => DIR, then mod_kvcache from the build of top =>
# DIR.  With guarded => 1, for a configuration that inherits modules (the
# Apache::Test server's, from the system's): each module only if not loaded
# yet, the MPM only if none is.
sub load_modules {
    my (%args) = @_;
    my ($listed_mpm, $modules) = module_list($args{top});
    my $mpm = "mpm_" . ($args{mpm} // $listed_mpm);
    my $load = sub { qq{LoadModule $_[0]_module "$args{libexec}/mod_$_[0].so"\n} };
    my $conf = '';
    if ($args{guarded}) {
        $conf .= join '', map { "<IfModule !mpm_${_}_module>\n" } @MPMS;
        $conf .= "    " . $load->($mpm);
        $conf .= "</IfModule>\n" x @MPMS;
        $conf .= "<IfModule !${_}_module>\n    " . $load->($_) . "</IfModule>\n"
            for @$modules;
    }
    else {
        $conf .= $load->($_) for $mpm, @$modules;
    }
    return $conf
        . qq{LoadModule kvcache_module "$args{top}/.libs/mod_kvcache.so"\n};
}

1;
